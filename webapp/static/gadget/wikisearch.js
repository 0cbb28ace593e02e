/**
 * wikisearch gadget: a "Semantic results" panel on Special:Search, beside the
 * wiki's own results, from a wikisearch tool's JSON API.
 *
 * Configure before loading (user common.js or MediaWiki:Gadget-wikisearch.js):
 *   window.wikisearchConfig = { url: 'https://wikisearch.toolforge.org', index: 'wikitech', limit: 5 };
 * or set the same object as the mw.config value "wgWikisearch".
 *
 * It asks only the configured tool, builds every element with textContent (the
 * tool's answers are never parsed as HTML), and shows nothing if the tool is
 * down, slow or answers something unexpected. ES5, so it loads as a gadget
 * on any skin (Vector 2022, Vector legacy, MonoBook, Timeless, Minerva).
 */
(function () {
	'use strict';

	function config() {
		var fromMw = window.mw && mw.config && mw.config.get('wgWikisearch');
		var cfg = fromMw || window.wikisearchConfig || {};
		if (typeof cfg.url !== 'string' || !/^https?:\/\//.test(cfg.url)) {
			return null;
		}
		return {
			url: cfg.url.replace(/\/+$/, ''),
			index: typeof cfg.index === 'string' ? cfg.index : '',
			limit: Math.min(Math.max(parseInt(cfg.limit, 10) || 5, 1), 10),
			timeout: parseInt(cfg.timeout, 10) || 8000
		};
	}

	function searchTerm() {
		var params = new URLSearchParams(window.location.search);
		var term = params.get('search');
		if (!term) {
			var input = document.querySelector('#searchText input, input#searchText, input[name="search"]');
			term = input ? input.value : '';
		}
		return (term || '').trim();
	}

	function el(tag, className, text) {
		var node = document.createElement(tag);
		if (className) {
			node.className = className;
		}
		if (text) {
			node.textContent = text;
		}
		return node;
	}

	function safeUrl(url) {
		return typeof url === 'string' && /^https?:\/\//.test(url) ? url : null;
	}

	function render(cfg, term, data) {
		var results = data && Array.isArray(data.results) ? data.results : null;
		if (!results || !results.length) {
			return null;
		}
		var panel = el('section', 'wikisearch-panel');
		panel.id = 'wikisearch-panel';
		panel.setAttribute('aria-label', 'Semantic results');
		var heading = el('h2', 'wikisearch-heading', 'Semantic results');
		panel.appendChild(heading);
		if (data.respelled === true && typeof data.did_you_mean === 'string') {
			// The tool searched a respelling: say so, as the wiki's own "Showing results for" does.
			var respelled = el('p', 'wikisearch-respelled', 'Showing results for ');
			respelled.appendChild(el('em', null, data.did_you_mean));
			panel.appendChild(respelled);
		}
		var answer = data.answer;
		if (answer && typeof answer.text === 'string' && typeof answer.section === 'string' && safeUrl(answer.url)) {
			var box = el('p', 'wikisearch-answer');
			box.appendChild(el('span', 'wikisearch-answer-text', answer.text));
			box.appendChild(document.createTextNode(' — '));
			var source = el('a', 'wikisearch-answer-source', answer.section.split(' > ').join(' › '));
			source.href = safeUrl(answer.url);
			box.appendChild(source);
			panel.appendChild(box);
		}
		var list = el('ol', 'wikisearch-results');
		results.forEach(function (hit) {
			var href = safeUrl(hit.url);
			if (!href || typeof hit.title !== 'string') {
				return;
			}
			var item = el('li', 'wikisearch-result');
			var link = el('a', 'wikisearch-title', hit.title);
			link.href = href;
			item.appendChild(link);
			if (typeof hit.redirect_from === 'string' && hit.redirect_from) {
				item.appendChild(el('span', 'wikisearch-redirect', ' (redirect from ' + hit.redirect_from + ')'));
			}
			var parts = typeof hit.section === 'string' ? hit.section.split(' > ').slice(1) : [];
			if (parts.length) {
				item.appendChild(el('div', 'wikisearch-section', parts.join(' › ')));
			}
			if (typeof hit.snippet === 'string' && hit.snippet) {
				item.appendChild(el('div', 'wikisearch-snippet', hit.snippet));
			}
			var categories = Array.isArray(hit.categories) ? hit.categories.filter(function (c) {
				return c && typeof c.name === 'string' && safeUrl(c.url);
			}) : [];
			if (categories.length) {
				// As the wiki's own catlinks read: "Categories: A | B".
				var line = el('div', 'wikisearch-categories', categories.length === 1 ? 'Category: ' : 'Categories: ');
				categories.forEach(function (c, i) {
					if (i) {
						line.appendChild(document.createTextNode(' | '));
					}
					var a = el('a', null, c.name);
					a.href = safeUrl(c.url);
					line.appendChild(a);
				});
				item.appendChild(line);
			}
			list.appendChild(item);
		});
		if (!list.children.length) {
			return null;
		}
		panel.appendChild(list);
		var more = el('a', 'wikisearch-more', 'More semantic results');
		more.href = cfg.url + '/?q=' + encodeURIComponent(term) + (cfg.index ? '&index=' + encodeURIComponent(cfg.index) : '');
		panel.appendChild(more);
		return panel;
	}

	function place(panel) {
		// After the wiki's own exact-title match ("There is a page named …"), before its results.
		var exact = document.querySelector('.searchresults .mw-search-exists, .searchresults .mw-search-createlink');
		if (exact && exact.parentNode) {
			exact.parentNode.insertBefore(panel, exact.nextSibling);
			return;
		}
		var anchor = document.querySelector('.searchresults') || document.getElementById('mw-content-text');
		if (anchor) {
			anchor.insertBefore(panel, anchor.firstChild);
		}
	}

	function silent(reason) {
		// The panel stays away; the reason is for whoever set the gadget up.
		if (window.console && console.warn) {
			console.warn('wikisearch gadget: ' + reason);
		}
	}

	function run() {
		var cfg = config();
		var page = window.mw && mw.config ? mw.config.get('wgCanonicalSpecialPageName') : null;
		var term = searchTerm();
		if (page !== 'Search' || !term || !window.fetch || document.getElementById('wikisearch-panel')) {
			return;
		}
		if (!cfg) {
			silent('no tool to ask: set wikisearchConfig (or wgWikisearch) to {url: "https://…", index: "…"}');
			return;
		}
		var url = cfg.url + '/api/v1/search?q=' + encodeURIComponent(term) + '&limit=' + cfg.limit +
			(cfg.index ? '&index=' + encodeURIComponent(cfg.index) : '');
		var controller = window.AbortController ? new AbortController() : null;
		var timer = controller ? setTimeout(function () { controller.abort(); }, cfg.timeout) : null;
		fetch(url, { mode: 'cors', credentials: 'omit', signal: controller ? controller.signal : undefined })
			.then(function (response) {
				return response.json().catch(function () { return null; }).then(function (data) {
					if (!response.ok) {
						var error = data && data.error ? data.error : {};
						silent(cfg.url + ' answered ' + response.status + (error.code ? ' ' + error.code : '') +
							(error.message ? ': ' + error.message : ''));
						return null;
					}
					return data;
				});
			})
			.then(function (data) {
				var panel = data ? render(cfg, term, data) : null;
				if (data && !panel) {
					silent('no good match for "' + term + '" in ' + (cfg.index || 'the default index'));
				}
				if (panel) {
					if (window.mw && mw.loader) {
						mw.loader.load(cfg.url + '/static/gadget/wikisearch.css', 'text/css');
					}
					place(panel);
				}
			})
			.catch(function (error) { silent('the tool did not answer (' + error + '): the wiki\'s own results only'); })
			.then(function () {
				if (timer) {
					clearTimeout(timer);
				}
			});
	}

	if (document.readyState === 'loading') {
		document.addEventListener('DOMContentLoaded', run);
	} else {
		run();
	}
}());
