"""The training text: a UTF-8 file at `data.path`. A data set's own copy (data.source: its URL and sha256)
is downloaded there when it is missing and hash-checked; a user's own text is read as it is.

Every way the text cannot be had (a directory, a failed download, a copy whose sha256 is not the source's,
unreadable or non-UTF-8 bytes, an empty file) is one ConfigError naming `data.path`, its value and the way
out. Needs neither torch nor Lightning.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from attention_lab.errors import ConfigError, refusal

BOOK_PROMPT = "Every effort moves you"  # the prompt of the book's chapters 4 and 5
BOOK_SENTENCE = "Your journey starts with one step"  # chapter 3's sentence: the heatmaps' text


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_path_problem(path: str | Path) -> str | None:
    """Why `path` cannot be the training text, or None: a regular file, or a path that does not exist yet
    (the text is downloaded there). Whether the file can be read and decoded is found out by reading it."""
    path = Path(path).expanduser()
    if path.is_dir():
        return (
            f"it is a directory; give a UTF-8 text file, e.g. data.path={path / 'the-verdict.txt'}"
        )
    if path.exists() and not path.is_file():
        return "it is not a regular file (a device, pipe or socket); give a UTF-8 text file"
    return None


def _download(url: str, sha256: str | None, path: Path) -> str | None:
    """Fetch `url` into `path`, which must not exist yet, and return why it failed, or None on success.

    The bytes are hash-checked, written to a temporary file beside `path` and linked to `path` only when
    complete: `path` never holds half a text, and a file that appeared there meanwhile (another run's
    download) is never replaced; load_text reads and hash-checks whichever file is there.
    """
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            data = response.read()
    except OSError as err:  # URLError, timeouts and refused connections are all OSErrors
        return f"downloading {url} failed ({err})"
    if sha256 is not None and sha256_of(data) != sha256:
        return f"the file downloaded from {url} has sha256 {sha256_of(data)}, expected {sha256}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".download", dir=path.parent)
    except OSError as err:
        return f"its directory cannot be written ({err.strerror})"
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)  # fails, instead of overwriting, when `path` exists by now
    except FileExistsError:
        pass  # another run's download, or the user's copy: kept, and hash-checked as it is read
    except OSError as err:
        return f"writing the download failed ({err.strerror})"
    finally:
        Path(temporary).unlink(missing_ok=True)
    return None


def load_text(path: str | Path, url: str | None = None, sha256: str | None = None) -> str:
    """Read a UTF-8 text. With a `url` (the text is a data set's downloaded copy) a missing file is
    downloaded first, and with `sha256` the bytes read or downloaded must have that hash: a truncated or
    altered copy is refused, never used. Without one it is the user's own text, read as it is.

    Raises ConfigError naming `data.path`, its value and the way out when the text cannot be had.
    """
    path = Path(path).expanduser()
    problem = text_path_problem(path)
    if problem is None and not path.exists():
        if url is None:
            problem = "it does not exist; give the path of a UTF-8 text file"
        elif (failed := _download(url, sha256, path)) is not None:
            checked = "" if sha256 is None else f" with sha256 {sha256}"
            problem = (
                f"it does not exist and {failed}. Put a copy of {url}{checked} there, or train on your own "
                "UTF-8 text: data.path=/path/to/text.txt"
            )
    if problem is None:
        try:
            data = path.read_bytes()
        except OSError as err:  # PermissionError, EIO, ...
            problem = (
                f"it cannot be read ({err.strerror or err}); give a UTF-8 text file this user may read "
                "(check its permissions with `ls -l`)"
            )
    if problem is None and sha256 is not None and sha256_of(data) != sha256:
        problem = (
            f"its {len(data):,} bytes have sha256 {sha256_of(data)}, expected {sha256} (a truncated or "
            "altered copy): delete it to download it again, or train on it as it is with "
            "data.source.sha256=null"
        )
    if problem is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            problem = (
                f"it is not UTF-8 text (byte {err.start} cannot be decoded); convert it with e.g. "
                "`iconv -f latin1 -t utf-8`"
            )
    if problem is None and not text.strip():
        problem = "it is empty; give a UTF-8 text with some words in it"
    if problem is not None:
        raise ConfigError(refusal("data.path", path, problem))
    return text
