"""A real, throwaway MediaWiki on loopback: Debian's ``mediawiki`` (1.39) with
SQLite, served by PHP's built-in server, changed with its maintenance scripts.

``make test`` installs the packages (``make mediawiki``); the tests make a wiki
under pytest's tmp dir and talk to it only on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

MEDIAWIKI = Path("/usr/share/mediawiki")
#: mediawiki.org's documentation namespaces, so the sample dump's pages land where they live there.
EXTRA_NAMESPACES = {
    100: "Manual",
    101: "Manual_talk",
    102: "Extension",
    103: "Extension_talk",
    104: "API",
    105: "API_talk",
}
ADMIN = "Admin"


class Wiki:
    """One wiki: install, serve, and change it as its editors and admins would."""

    def __init__(self, root: Path, private: bool = False):
        if not (MEDIAWIKI / "maintenance" / "install.php").is_file():
            pytest.fail(
                "Debian's mediawiki is not installed: run `make mediawiki` (apt-get install mediawiki php-sqlite3)"
            )
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = f"{self.url}/api.php"
        self.conf = root / "LocalSettings.php"
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        self._php(
            "install.php",
            "--dbtype", "sqlite", "--dbpath", str(root / "data"), "--dbname", "wiki",
            "--server", self.url, "--scriptpath", "", "--confpath", str(root),
            "--pass", "wikisearch-test-admin-pw", "Test Wiki", ADMIN,
            conf=False,
        )  # fmt: skip
        extra = "".join(f'$wgExtraNamespaces[{n}] = "{name}";\n' for n, name in EXTRA_NAMESPACES.items())
        with self.conf.open("a") as out:
            out.write(f"\n{extra}$wgRCMaxAge = 90 * 24 * 3600;\n$wgEnableBotPasswords = true;\n")
            if private:  # only logged-in users read
                out.write("$wgGroupPermissions['*']['read'] = false;\n")

    def _php(self, script: str, *args: str, conf: bool = True, stdin: str | None = None) -> str:
        cmd = ["php", str(MEDIAWIKI / "maintenance" / script), *args]
        if conf:
            cmd += ["--conf", str(self.conf)]
        result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"{script} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")
        return result.stdout

    def start(self) -> Wiki:
        env = {**os.environ, "MW_CONFIG_FILE": str(self.conf)}
        log = (self.root / "server.log").open("w")
        self.proc = subprocess.Popen(
            ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(MEDIAWIKI)], env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.api + "?action=query&meta=siteinfo&format=json", timeout=5):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise RuntimeError(f"the wiki did not come up: {(self.root / 'server.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None

    # ---------------------------------------------------------------- changes

    def import_xml(self, path: Path) -> None:
        self._php("importDump.php", str(path))

    def edit(self, title: str, text: str, summary: str = "test edit") -> None:
        self._php("edit.php", "--user", ADMIN, "--summary", summary, title, stdin=text)

    def delete(self, title: str) -> None:
        listing = self.root / "delete.txt"
        listing.write_text(title + "\n")
        self._php("deleteBatch.php", "--u", ADMIN, "--r", "test delete", str(listing))

    def undelete(self, title: str) -> None:
        self._php("undelete.php", "--user", ADMIN, title)

    def move(self, old: str, new: str, redirect: bool = True) -> None:
        listing = self.root / "move.txt"
        listing.write_text(f"{old}|{new}\n")
        self._php(
            "moveBatch.php", "--u", ADMIN, "--r", "test move", *([] if redirect else ["--noredirects"]), str(listing)
        )

    def bot_password(self, app: str, password: str) -> str:
        """A bot password of the admin (Special:BotPasswords); returns its login name."""
        self._php("createBotPassword.php", "--appid", app, "--grants", "basic", ADMIN, password)
        return f"{ADMIN}@{app}"

    def dump(self, out: Path) -> Path:
        """The wiki's current pages as ``dumpBackup.php --current`` writes them."""
        out.write_text(self._php("dumpBackup.php", "--current", "--quiet"))
        return out
