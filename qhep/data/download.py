"""Fetch a task's files from Zenodo: checksums from the record's metadata, resumable, verified.

pooch does the bookkeeping (download to a temporary file, verify the md5, move into place, delete on mismatch);
the downloader below adds what pooch's own lacks: resuming an interrupted transfer with an HTTP Range request from
a `<name>.part` file kept next to the target. A file already in place is checked here, never replaced: when its
md5 differs from the record's (an older version, or a file of the user's under that name) the command stops.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pooch
import requests

from qhep.data.records import DOWNLOADS, ZENODO_URL, ZENODO_URL_VARIABLE
from qhep.errors import DataError, QhepError
from qhep.formats.files import check_file
from qhep.progress import progress_bar

BLOCK_BYTES = 1 << 16  # small enough that an interrupted transfer keeps nearly all it received
TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    md5: str
    size: int | None


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    status: str  # "downloaded" or "already present"


def zenodo_url(base_url: str | None = None) -> str:
    return (base_url or os.environ.get(ZENODO_URL_VARIABLE) or ZENODO_URL).rstrip("/")


def record_files(record: str, base_url: str | None = None, session: requests.Session | None = None) -> dict:
    """name -> RemoteFile for every file of a Zenodo record, from the records API."""
    url = f"{zenodo_url(base_url)}/api/records/{record}"
    try:
        response = (session or requests).get(url, timeout=TIMEOUT_S)
        response.raise_for_status()
        metadata = response.json()
    except requests.RequestException as exc:
        raise QhepError(f"cannot read Zenodo record {record} metadata from {url}: {exc}") from None
    except ValueError:
        raise QhepError(f"Zenodo record {record}: {url} did not return JSON") from None
    entries = metadata.get("files")
    if isinstance(entries, dict):  # InvenioRDM variants wrap the list: {"entries": [...]}
        entries = entries.get("entries", [])
    files = {}
    for entry in entries or []:
        name = entry.get("key") or entry.get("filename")
        algorithm, _, value = (entry.get("checksum") or "").rpartition(":")
        if not name or not value or algorithm not in ("", "md5"):
            raise QhepError(f"Zenodo record {record}: file entry without name or md5 checksum: {entry}")
        # The content link is built from the file name: the entries' links.self has pointed at file ids that
        # do not resolve (zenodo/zenodo#2486).
        link = f"{zenodo_url(base_url)}/api/records/{record}/files/{quote(name)}/content"
        files[name] = RemoteFile(name, link, value.lower(), entry.get("size"))
    return files


class ResumingDownloader:
    """A pooch downloader that keeps partial data in `<target>.part` and resumes it with an HTTP Range request."""

    def __init__(self, part: Path, size: int | None, session: requests.Session, show_progress: bool):
        self.part, self.size, self.session, self.show_progress = part, size, session, show_progress

    def __call__(self, url: str, output_file: str, pooch_object=None, check_only: bool = False) -> None:
        offset = self.part.stat().st_size if self.part.exists() else 0
        if self.size is not None and offset > self.size:
            self.part.unlink()  # longer than the file: not a prefix of it
            offset = 0
        if self.size is None or offset < self.size:
            self._fetch(url, offset)
        os.replace(self.part, output_file)  # pooch verifies the md5, then moves it to the target

    def _fetch(self, url: str, offset: int) -> None:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        written = offset
        try:
            with self.session.get(url, headers=headers, stream=True, timeout=TIMEOUT_S) as response:
                if response.status_code == 416 and offset:  # nothing left past `offset`: start again
                    self.part.unlink()
                    return self._fetch(url, 0)
                response.raise_for_status()
                if offset and response.status_code != 206:  # the server ignored the range: full body follows
                    offset = written = 0
                with open(self.part, "ab" if offset else "wb") as out, \
                        progress_bar(self.size, self.part.name[: -len(".part")], self.show_progress,
                                     unit="B") as bar:
                    bar.update(offset)
                    for block in response.iter_content(BLOCK_BYTES):
                        out.write(block)
                        written += len(block)
                        bar.update(len(block))
        except requests.HTTPError as exc:
            raise QhepError(f"{url}: download failed ({exc})") from None
        except (requests.RequestException, OSError) as exc:
            raise QhepError(f"{url}: download interrupted after {written:,} bytes ({type(exc).__name__}); "
                            f"run the command again to resume from {self.part}") from None
        if self.size is not None and written < self.size:
            raise QhepError(f"{url}: the server closed the transfer after {written:,} of {self.size:,} bytes; "
                            f"run the command again to resume from {self.part}")


def fetch(remote: RemoteFile, dest: Path, session: requests.Session, show_progress: bool = True) -> Fetched:
    """One file into `dest`: skipped if present with the right md5, refused if present with another, else
    (resumed and) downloaded and verified."""
    target = dest / remote.name
    if target.exists() or target.is_symlink():
        _check_present(target, remote)
        return Fetched(target, target.stat().st_size, "already present")
    downloader = ResumingDownloader(dest / f"{remote.name}.part", remote.size, session, show_progress)
    pooch_log = pooch.get_logger()
    level = pooch_log.level
    pooch_log.setLevel(logging.WARNING)  # pooch logs every fetch at INFO; the command prints the outcome
    try:
        pooch.retrieve(remote.url, known_hash=f"md5:{remote.md5}", fname=remote.name, path=dest,
                       downloader=downloader)
    except ValueError as exc:  # pooch's checksum mismatch; it has already deleted the downloaded data (only that)
        found = re.search(r"but got (\w+)", str(exc))
        if found is None:
            raise
        raise QhepError(f"{target}: checksum mismatch (md5 {found.group(1)}, the record says {remote.md5}); "
                        "the downloaded file was deleted, run the command again") from None
    finally:
        pooch_log.setLevel(level)
    return Fetched(target, target.stat().st_size, "downloaded")


def _check_present(target: Path, remote: RemoteFile) -> None:
    """A file already at the target must be the record's (same md5); any other is the user's to deal with."""
    check_file(target, empty_ok=True)
    local = pooch.file_hash(str(target), alg="md5")
    if local != remote.md5:
        raise DataError(target, f"already present with md5 {local}, but the record lists md5 {remote.md5}; "
                                "left untouched: move it away (or remove it) to download the record's version")


def download_task(task: str, dest: str | Path, base_url: str | None = None,
                  show_progress: bool = True) -> list[Fetched]:
    """All files a task uses, into `dest`; the records' metadata gives the links and md5 checksums."""
    if task not in DOWNLOADS:
        raise QhepError(f"download: unknown task {task!r}; choose one of: {', '.join(DOWNLOADS)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    fetched = []
    with requests.Session() as session:
        for entry in DOWNLOADS[task]:
            files = record_files(entry.record, base_url, session)
            for name in entry.files:
                if name not in files:
                    raise QhepError(f"Zenodo record {entry.record} has no file {name!r} "
                                    f"(it lists: {', '.join(files) or 'nothing'})")
                fetched.append(fetch(files[name], dest, session, show_progress))
    return fetched
