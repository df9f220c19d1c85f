"""`qhep data info` for Dark Machines event files (`;`-separated text, plain, gzip or bzip2).

Text has no row count in a header, so one pass over the file counts the events and tallies their process IDs
exactly. That pass only splits lines and takes their second field, in C-level string operations: measured
0.9M events/s on plain text and 0.4M/s gzipped (one shared core, ~200-byte lines), so the 8.5M-event channel 3
background takes some 10 s plain, 20 s gzipped. In the same pass a bounded sample is kept for the statistics:
blocks of lines starting at evenly spaced fractions of the (compressed) file size, since files may be sorted by
process. Only the sample is parsed and validated in full: parsing in Python runs at about 50-85k events/s.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from qhep.errors import DataError
from qhep.formats.compression import NAMES as COMPRESSION_NAMES
from qhep.formats.compression import UTF8_BOM, compression_of, decompressed
from qhep.formats.darkmachines import check_line, parse_lines
from qhep.formats.detect import DARKMACHINES_CSV
from qhep.formats.files import check_file
from qhep.formats.summary import (
    SAMPLE_BLOCKS,
    SAMPLE_VALUES,
    Accumulator,
    FeatureGroup,
    Summary,
    Tally,
    sample_note,
)

READ_BYTES = 1 << 22
VALUES_PER_EVENT = 50  # numbers on a typical line (5 + 5 per object), to turn the value budget into events
MAX_SAMPLE_EVENTS = 50_000  # about a second of parsing
FEATURES = ["MET [GeV]", "HT [GeV] (jets j, b)", "jets per event (j, b)", "leptons per event (e, mu)",
            "leading-jet pT [GeV] (events with a jet)"]


class _Scan:
    """Event count, process tally and spread sample, fed one chunk of complete lines at a time."""

    def __init__(self, path: Path, file_bytes: int, target: int, blocks: int = SAMPLE_BLOCKS):
        self.path, self.file_bytes, self.blocks = path, file_bytes, blocks
        self.block_size = max(target // blocks, 1)
        self.events = 0
        self.processes: Counter[bytes] = Counter()
        # Until the file proves longer than the target, every event is kept, as one block.
        self.sample: list[tuple[int, bytes]] = []
        self.ranges = [(0, target)]
        self.spread = False
        self.next_block = blocks  # no further block starts before the switch to spread blocks
        self.line_number = 0  # lines read so far, blank ones included
        self.blank_line: int | None = None
        self.compression: str | None = None  # "gzip", "bz2" or None

    def add(self, body: bytes, position: tuple[int, int]) -> None:
        """`body`: complete lines, each ending in a newline; `position`: raw file bytes read before and after."""
        lines = body.split(b"\n")[:-1]
        first_number = self.line_number + 1
        self.line_number += len(lines)
        lines = self._tally(lines, first_number)
        self._sample(lines, first_number, body, position)
        self.events += len(lines)

    def _tally(self, lines: list[bytes], first_number: int) -> list[bytes]:
        """Count the process IDs of a chunk's lines; return the lines that hold events (a prefix of them)."""
        if self.blank_line is None:
            try:  # the common case, at C speed: every line has a second field, none is blank
                counts = Counter([line.split(b";", 2)[1] for line in lines])
                if all(key.strip() for key in counts):
                    self.processes.update(counts)
                    return lines
            except IndexError:
                pass
        # Blank lines (allowed only at the end of the file) or a malformed line: go line by line.
        kept = []
        for number, line in enumerate(lines, start=first_number):
            if not line.strip():
                self.blank_line = self.blank_line or number
                continue
            if self.blank_line is not None:
                raise DataError(self.path, f"line {self.blank_line}: empty line before more events")
            fields = line.split(b";", 2)
            if len(fields) < 2 or not fields[1].strip():
                try:
                    check_line(_decode(line, self.path, number).strip())
                except ValueError as exc:
                    raise DataError(self.path, f"line {number}: {exc}") from None
            self.processes[fields[1]] += 1
            kept.append(line)
        return kept

    def _sample(self, lines: list[bytes], first_number: int, body: bytes, position: tuple[int, int]) -> None:
        base, i = self.events, 0
        while True:
            _, stop = self.ranges[-1]
            if stop > base + i:  # inside a block: keep its lines
                j = min(len(lines), stop - base)
                self.sample.extend(zip(range(first_number + i, first_number + j), lines[i:j]))
                i = j
            if i >= len(lines):
                return
            if not self.spread:  # more events than the target: keep block 0 and spread the others
                self.spread, self.next_block = True, 1
                self.sample = self.sample[: self.block_size]
                self.ranges = [(0, self.block_size)]
            if self.next_block >= self.blocks:
                return
            # Block k starts at the first line beyond k / blocks of the file's bytes, placed by interpolating
            # the raw position over this chunk (gzip: compressed bytes map to text bytes about linearly).
            threshold = self.next_block / self.blocks * self.file_bytes
            before, after = position
            if threshold >= after:
                return
            offset = int((threshold - before) / max(after - before, 1) * len(body))
            start = max(i, body.count(b"\n", 0, max(offset, 0)))
            if start >= len(lines):
                return
            self.ranges.append((base + start, base + start + self.block_size))
            self.next_block += 1
            i = start

    def finish(self, rest: bytes, position: tuple[int, int]) -> None:
        rest = _unix_newlines(rest)
        if rest:  # a last line without a newline, or a last \r\n or \r held back
            self.add(rest if rest.endswith(b"\n") else rest + b"\n", position)
        self.ranges = [(start, min(stop, self.events)) for start, stop in self.ranges if start < self.events]


def _unix_newlines(data: bytes) -> bytes:
    """CRLF (Windows) and CR (old Mac) line ends as LF, each one line, as Python's text reading counts them."""
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n") if b"\r" in data else data


def _decode(line: bytes, path: Path, number: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(path, f"line {number}: not UTF-8 text") from None


def scan(path: str | Path, target: int) -> _Scan:
    """One pass over the file: exact event count and process tally, and a sample of about `target` events."""
    path = check_file(path)
    state = _Scan(path, path.stat().st_size, target)
    with open(path, "rb") as raw:
        state.compression = compression_of(raw.read(4))
        raw.seek(0)
        stream = decompressed(raw, state.compression)
        rest, before, first = b"", 0, True
        try:
            while chunk := stream.read(READ_BYTES):
                if first:  # a UTF-8 byte-order mark is no part of the first event
                    chunk, first = chunk.removeprefix(UTF8_BOM), False
                chunk = rest + chunk
                held = b"\r" if chunk.endswith(b"\r") else b""  # the \n of a \r\n may come with the next read
                chunk = _unix_newlines(chunk[: len(chunk) - len(held)])
                cut = chunk.rfind(b"\n") + 1
                after = raw.tell()
                if cut:
                    state.add(chunk[:cut], (before, after))
                    before = after
                rest = chunk[cut:] + held
        except (OSError, EOFError) as exc:  # truncated or corrupt gzip or bzip2
            raise DataError(path, f"not a readable Dark Machines text file ({type(exc).__name__}: {exc})") from None
        state.finish(rest, (before, raw.tell()))
    return state


def describe(path: str | Path, sample_values: int = SAMPLE_VALUES) -> Summary:
    from qhep.tasks.darkmachines import JETS, LEPTONS, count, ht, leading

    path = Path(path)
    state = scan(path, max(min(sample_values // VALUES_PER_EVENT, MAX_SAMPLE_EVENTS), 1))
    if not state.events:
        raise DataError(path, "no events (only empty lines)")
    events = parse_lines(((n, _decode(line, path, n)) for n, line in state.sample), path)
    stats = Accumulator(FEATURES)
    n_jets = count(events, JETS)
    for column, values in enumerate((events.met, ht(events), n_jets, count(events, LEPTONS),
                                     leading(events, JETS, 1)[n_jets > 0, 0, 0])):
        stats.add(column, values)
    note = sample_note(state.ranges, state.events)
    processes: Counter[str] = Counter()
    for key, n in state.processes.items():  # process IDs are shown as written, surrounding blanks aside
        processes[key.strip().decode("utf-8", "backslashreplace")] += n
    processes = dict(processes.most_common())
    return Summary(
        str(path), DARKMACHINES_CSV.title, state.events, "exact, every line counted in one full pass over the file",
        None, "none in the file: the process ID names each event's process (signal = a BSM process)",
        [FeatureGroup(f"event features, {note}", stats.stats())],
        details=[("compression", COMPRESSION_NAMES[state.compression]),
                 ("process IDs", f"{len(processes)} distinct")],
        tallies=[Tally("events per process ID (exact, all events)", "process ID", processes)],
    )
