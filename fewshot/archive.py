"""A task kept as one ``.zip`` file: written by the app's Save, read by its Open, and by anyone.

The layout is the one the app's examples use (``demo/<example>/``)::

    task.json                       {"format": 1, "domain": "characters", "classes": [...]}
    support/01-eye/01-1.png         each class's support images, in order
    support/02-a_b/01-drawing.png
    query/01-eye/01-4.png           labelled queries, where the task has them

A class's folder is named by its place in the task and a slug of its name, because a name
may be anything a person types ("a/b", "..", "CON", "Eye" beside "eye"): ``task.json`` holds
the true names, in order, each beside its folder. Images are stored as they came, byte for
byte (a JPEG stays a JPEG, a drawing is the PNG it was saved as), each with its place in its
class before its name, so that two files called ``drawing.png`` stay two.

A plain folder of that layout, zipped by hand, opens too: without ``task.json`` its class
folders' names are the class names (sorted, as the app reads ``demo/``), and its domain is
``characters`` unless an ``example.json`` beside them says otherwise, as in ``demo/``.

Reading is written for archives from anywhere (the app may be a public Space): an archive
is checked before anything is written (the number of entries, each entry's name and kind,
declared sizes) and while it is extracted (the sizes actually read), against ``Limits``
derived from what the app itself accepts. Nothing is extracted by the archive's own names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import struct
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from .preprocess import ImageInputError, prepare
from .service import (MAX_QUERIES, MAX_SHOTS, MAX_WAYS, TaskError, checked_class_names, checked_queries,
                      checked_shots, image_reading)

FORMAT = 1  # task.json's "format": a reader refuses a later one rather than misread it
DOMAINS = ("characters", "photos")
DESCRIPTION, EXAMPLE_CARD = "task.json", "example.json"
SUPPORT, QUERY = "support", "query"
SOURCES = ("upload", "omniglot", "mini-imagenet")  # where an image came from (as the app records it)
# what operating systems add to a folder they zip (macOS's resource forks, Finder's and
# Explorer's folder settings): passed over, so that a teacher's own zip opens
JUNK_FOLDERS = ("__MACOSX",)
JUNK_FILES = (".DS_Store", "Thumbs.db", "desktop.ini")
MB = 1024 * 1024
# compressions that zip tools offer besides Deflate, named where an archive uses one
COMPRESSIONS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "Deflate64", 93: "Zstandard", 95: "XZ",
                98: "PPMd", 99: "AES encryption"}


@dataclass(frozen=True)
class Limits:
    """What an archive may hold, from what the app accepts of a task built by hand: at most
    ``MAX_WAYS`` classes of ``MAX_SHOTS`` images and ``MAX_QUERIES`` queries, and an image of at
    most 100 MB (the app's upload limit, ``MAX_UPLOAD``). An archive arrives as one upload
    (itself at most 100 MB) of images that are mostly compressed already, so a genuine one
    expands little: ``total_bytes`` leaves five times that for uncompressed BMP or TIFF images,
    and refuses a zip bomb long before a disk fills."""

    classes: int = MAX_WAYS
    shots: int = MAX_SHOTS
    queries: int = MAX_QUERIES
    file_bytes: int = 100 * MB
    total_bytes: int = 500 * MB
    description_bytes: int = 1 * MB  # task.json, example.json

    @property
    def files(self) -> int:
        return self.classes * self.shots + self.queries + 2

    @property
    def entries(self) -> int:
        """Files and folders; twice over for the ``__MACOSX/._*`` twin that macOS adds of each."""
        return 2 * (self.files + 2 * self.classes + 2)

    @property
    def listing_bytes(self) -> int:
        """The central directory (the archive's list of its entries): at most 2 kB an entry, so
        that a list of millions, declared as a few, is not read."""
        return self.entries * 2048


class ArchiveError(TaskError):
    """An archive that cannot be opened as a task; ``code`` and ``values`` as ``TaskError``'s."""


class ArchiveImageError(ArchiveError):
    """Images in an archive that ``prepare`` refuses: ``problems`` holds (entry, error) for each,
    so that a front end can give each reason in its own words."""

    def __init__(self, message: str, code: str = "", problems: Sequence[tuple[str, ImageInputError]] = (),
                 **values) -> None:
        super().__init__(message, code, **values)
        self.problems = list(problems)


@dataclass
class ArchivedImage:
    """One image of a task: its file, the name it is shown by, and where it came from (an
    ``omniglot`` file is read as the benchmarks read the dataset, not cleaned up as a drawing)."""

    path: Path
    name: str
    source: str = "upload"


@dataclass
class TaskArchive:
    """A task read from an archive: ``support[k]`` holds class ``k``'s images, ``queries`` the
    labelled queries as (image, class index)."""

    domain: str
    class_names: list[str]
    support: list[list[ArchivedImage]]
    queries: list[tuple[ArchivedImage, int]] = field(default_factory=list)


ImageLike = Union[str, Path, ArchivedImage]


def slug(text: str, most: int = 40) -> str:
    """``text`` as a safe part of a file name: letters and digits of any script, "-", "_" and "."
    kept, anything else (a "/", a space, a control character) made "_", no leading dot. Never a
    whole name: the archive puts a number before it, so "CON" or "" name no trouble."""
    text = unicodedata.normalize("NFC", text)
    safe = "".join(c if (c.isalnum() or c in "-_.") and c.isprintable() else "_" for c in text)
    return safe.lstrip(".")[:most].rstrip(".")


def member_name(index: int, name: str) -> str:
    return f"{index:02d}-{slug(name)}".rstrip("-")


def extension(path: Path) -> str:
    """A file's extension as the archive keeps it (".png", ".jpg"), or "" for an odd one."""
    suffix = path.suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else ""


def checked_classes(names: Sequence[str], counts: Sequence[int], limits: Limits) -> list[str]:
    """The class names as a task may hold them, refused as the app refuses: none, too many, an
    unnamed class or two names of one class (``fewshot.service.checked_class_names``: "Eye" and
    "eye" are one class there, so here too), a class without images or with more than the limit.
    (Writing checks the same, so that whatever is saved opens again.)"""
    if not names:
        raise ArchiveError("The task has no classes: support/<class>/ folders of images.", "archive_no_classes")
    with archive_errors():  # (a task.json may name a class of 100,000 characters)
        checked = checked_class_names(names, limits.classes)
    empty = [name for name, n in zip(checked, counts) if n == 0]
    if empty:
        listed = ", ".join(empty)
        raise ArchiveError(f"These classes have no images: {listed}.", "empty_classes", names=listed)
    with archive_errors():
        for name, n in zip(checked, counts):
            checked_shots(name, n, limits.shots)
    return checked


def checked_query_count(have: int, limits: Limits) -> None:
    with archive_errors():
        checked_queries(have, limits.queries)


@contextmanager
def archive_errors() -> Iterator[None]:
    """The service's refusals (a class name, the shots, the queries) raised as ``ArchiveError``,
    as ``read_task_archive`` promises, with their words and codes."""
    try:
        yield
    except TaskError as error:
        raise ArchiveError(str(error), error.code, **error.values) from None


# ---- writing --------------------------------------------------------------------------------


def write_task_archive(destination: str | Path, class_names: Sequence[str], support: Sequence[Sequence[ImageLike]],
                       queries: Sequence[tuple[ImageLike, int]] = (), domain: str = "characters",
                       limits: Limits = Limits()) -> Path:
    """Write a task to ``destination`` (a ``.zip``), in the layout ``read_task_archive`` reads.

    ``support[k]`` is class ``k``'s images (paths, or ``ArchivedImage`` for a name and source
    of their own), ``queries`` the labelled queries as (image, class index). Each image is
    stored byte for byte, uncompressed (images are compressed already): nothing is re-encoded.
    A task that would not open again is refused the same way (``ArchiveError``): a class
    without images, two classes of one name, more than ``limits`` allow, a file that is gone.
    The archive is written beside ``destination`` and moved there once whole."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}: {' or '.join(DOMAINS)}")
    if len(support) != len(class_names):
        raise ValueError("support must hold one list of images per class")
    names = checked_classes(class_names, [len(images) for images in support], limits)
    checked_query_count(len(queries), limits)
    destination = Path(destination)
    folders = [member_name(k + 1, name) for k, name in enumerate(names)]
    described = {"format": FORMAT, "domain": domain,
                 "classes": [{"name": name, "folder": folder} for name, folder in zip(names, folders)]}
    entries: list[tuple[str, ArchivedImage]] = []
    for k, images in enumerate(support):
        entries += [(f"{SUPPORT}/{folders[k]}/{image_member(i + 1, image)}", as_image(image))
                    for i, image in enumerate(images)]
    placed = [0] * len(names)
    for image, label in queries:
        if not 0 <= label < len(names):
            raise ValueError(f"query label {label} names no class")
        placed[label] += 1
        entries.append((f"{QUERY}/{folders[label]}/{image_member(placed[label], image)}", as_image(image)))
    for _, image in entries:
        if not image.path.is_file():
            raise ArchiveError(f"{image.name} does not exist.", "missing", name=image.name)
    sources = {member: image.source for member, image in entries if image.source != "upload"}
    if sources:
        described["sources"] = sources
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(prefix=".partial-", suffix=".zip", dir=destination.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            archive.writestr(stamped(DESCRIPTION, zipfile.ZIP_DEFLATED),
                             json.dumps(described, ensure_ascii=False, indent=1) + "\n")
            for member, image in entries:
                with open(image.path, "rb") as source, archive.open(stamped(member, zipfile.ZIP_STORED), "w") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
        os.replace(partial, destination)
    finally:
        Path(partial).unlink(missing_ok=True)
    return destination


STAMP = (1980, 1, 1, 0, 0, 0)  # every entry's time in a written archive: the earliest a zip holds


def stamped(member: str, compression: int) -> zipfile.ZipInfo:
    """An entry of a written archive, its time ``STAMP``: the same task is the same bytes at each
    save. (Stamped with the time of writing and each file's own time, every save of a task
    differed, and Gradio keeps each file a handler answers in its cache under the hash of its
    bytes, for a day: saving a task of 380 MB again and again, 4.6 s a time, added 380 MB to
    the server's disk each time.)"""
    info = zipfile.ZipInfo(member, STAMP)
    info.compress_type, info.external_attr = compression, (stat.S_IFREG | 0o644) << 16
    return info


def as_image(image: ImageLike) -> ArchivedImage:
    if isinstance(image, ArchivedImage):
        return ArchivedImage(Path(image.path), image.name, image.source)
    return ArchivedImage(Path(image), Path(image).name)


def image_member(index: int, image: ImageLike) -> str:
    """An image's name in the archive: its place, its shown name's stem, its file's extension
    (a drawing shown as "drawing.png" is a PNG; an upload keeps the extension it came with)."""
    image = as_image(image)
    return member_name(index, Path(image.name).stem) + extension(image.path)


# ---- reading --------------------------------------------------------------------------------


def read_task_archive(archive: str | Path, folder: str | Path, name: str | None = None,
                      prepare: Callable | None = prepare, limits: Limits = Limits()) -> TaskArchive:
    """The task in ``archive``, its images extracted into ``folder`` (made here, new or empty).

    Refused with an ``ArchiveError`` (``TaskError``'s code and values, so that a front end can
    word it in its language) that names the problem, and ``folder`` removed: a file that is no
    zip; more entries than ``limits`` allow; an entry with an absolute path, a "..", a symbolic
    link or other special file, an encrypted one or one compressed other than by Deflate
    (bzip2, LZMA: see ``checked_entry``), one outside the layout (files and folders of
    operating systems, ``__MACOSX/`` and ``.DS_Store``, are passed over); a file that declares or
    expands past ``limits`` (a zip bomb), or whose data does not match its header; a class
    without images, two classes of one name, more classes, images or queries than allowed.
    ``name`` is the archive as the messages name it (its file name by default).

    Each image is read with ``prepare(path, how, name=entry)`` (``fewshot.preprocess.prepare``,
    or a cache of it; None reads none). One that it refuses refuses the archive, every such
    image named (``ArchiveImageError``): a saved task comes back as it was saved or not at
    all, rather than with a class short of an image, or emptied, and its queries scored on
    another task than the one kept; an archive made by hand is fixed once, where it was made.
    Files are extracted under names of the reader's own (``support/03/07.png``): nothing is
    written by a name the archive chose, and an extension is kept only if plain."""
    archive, folder = Path(archive), Path(folder)
    name = name or archive.name
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    if not created and any(folder.iterdir()):
        raise ValueError(f"{folder} is not empty: an archive is read into a folder of its own")
    try:
        with open_archive(archive, name, limits) as opened:
            task = read_opened(opened, folder, name, limits)
        if prepare is not None:
            check_images(task, prepare)
        return task
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for child in folder.iterdir():
                shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
        raise


def open_archive(archive: Path, name: str, limits: Limits) -> zipfile.ZipFile:
    """The archive opened, once its list of entries is known to be small (``zipfile`` reads the
    whole list into memory at once: millions of entries in a 100 MB upload)."""
    not_zip = ArchiveError(f"{name} is not a zip archive.", "archive_not_zip", name=name)
    try:
        with open(archive, "rb") as file:
            listed = central_directory(file)
    except OSError:
        raise not_zip from None
    if listed is None:
        raise not_zip
    entries, listing = listed
    if entries > limits.entries:
        raise ArchiveError(f"{name} holds {entries:,} entries; a task's archive holds at most {limits.entries:,}.",
                           "archive_entries", name=name, have=entries, most=limits.entries)
    if listing > limits.listing_bytes:
        raise ArchiveError(f"{name}'s list of entries is {listing:,} bytes; a task's archive needs at most "
                           f"{limits.listing_bytes:,}.", "archive_listing", name=name, have=listing,
                           most=limits.listing_bytes)
    try:
        opened = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError):
        raise not_zip from None  # (NotImplementedError: an entry that needs a zip version past 6.3)
    if len(opened.infolist()) > limits.entries:  # (the end record's count, checked above, may lie)
        opened.close()
        raise ArchiveError(f"{name} holds {len(opened.infolist()):,} entries; a task's archive holds at most "
                           f"{limits.entries:,}.", "archive_entries", name=name, have=len(opened.infolist()),
                           most=limits.entries)
    return opened


def central_directory(file) -> tuple[int, int] | None:
    """(entries, bytes) of a zip's central directory, read from its end record; None where
    there is none (not a zip). A ZIP64 archive (past 65,535 entries or 4 GB, which no task
    needs) reads as too many of both, unless a ZIP64 end record gives its counts.

    Where a ZIP64 end record and its locator stand just before the end record, ``zipfile``
    takes the list's size and place from it, whatever the plain end record says (which some
    writers fill in too): that record's counts are the ones checked. (The plain record alone
    was read: one that said 1 entry of 46 bytes, before a ZIP64 record of 2.1 million, had
    ``zipfile`` read them all, 38 s and 750 MB for a 100 MB upload, before the count refused it.)"""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    tail_size = min(size, 22 + 0xFFFF)  # the end record, and a comment of at most 65,535 bytes
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    _, _, _, _, entries, listing, _, _ = struct.unpack("<4s4H2LH", tail[at:at + 22])
    end = size - tail_size + at  # where the end record starts in the file
    if end >= 20 + 56:  # (as zipfile._EndRecData64 finds them: the locator, the record before it)
        file.seek(end - 20 - 56)
        record, locator = file.read(56), file.read(20)
        if locator[:4] == b"PK\x06\x07" and record[:4] == b"PK\x06\x06":
            return struct.unpack("<QQ", record[32:48])  # (the entries in all, the list's bytes)
    if entries == 0xFFFF or listing == 0xFFFFFFFF:
        return 1 << 32, 1 << 32
    return entries, listing


def checked_entry(info: zipfile.ZipInfo, name: str, limits: Limits) -> list[str] | None:
    """An entry's path as its parts, or None for an operating system's file; refused where it
    could reach outside the folder it is read into, or is no plain file or folder."""
    entry = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode) or (stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))):
        raise ArchiveError(f"{entry} in {name} is a symbolic link or another special file: a task's archive holds "
                           "files and folders only.", "archive_link", entry=entry, name=name)
    if entry.startswith("/") or re.match(r"[A-Za-z]:", entry):
        raise ArchiveError(f"{entry} in {name} is an absolute path: a task's archive holds paths inside it only.",
                           "archive_absolute", entry=entry, name=name)
    parts = entry.rstrip("/").split("/") if entry.rstrip("/") else [""]
    if ".." in re.split(r"[\\/]", entry):  # (a backslash too: Windows' separator, as some tools wrote it)
        raise ArchiveError(f"{entry} in {name} leads outside the archive (“..”).", "archive_traversal",
                           entry=entry, name=name)
    if parts[0] in JUNK_FOLDERS or parts[-1] in JUNK_FILES:
        return None
    if any(part in ("", ".") or "\\" in part or not part.isprintable() for part in parts):
        raise ArchiveError(f"{entry} in {name} is not a name a task's archive holds.", "archive_layout",
                           entry=entry, name=name)
    if info.flag_bits & 0x1:
        raise ArchiveError(f"{entry} in {name} is encrypted.", "archive_encrypted", entry=entry, name=name)
    if not info.is_dir() and info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        # (zipfile reads a bzip2 or LZMA entry a whole read's worth of its data at a time, with no
        # bound on what that expands to: 946 bytes of bzip2, said to be 10, took 600 MB before
        # the size was checked, and a 100 MB upload holds terabytes; Deflate64, AES: unreadable)
        method = COMPRESSIONS.get(info.compress_type, f"method {info.compress_type}")
        raise ArchiveError(f"{entry} in {name} is compressed with {method}: a task's archive holds files stored or "
                           "compressed the usual way (Deflate), as Save and every system's own zip make them.",
                           "archive_compression", entry=entry, name=name, method=method)
    if not info.is_dir() and info.file_size > limits.file_bytes:
        raise ArchiveError(f"{entry} in {name} expands to {info.file_size:,} bytes; a file in a task's archive may "
                           f"have at most {limits.file_bytes:,}.", "archive_file_too_large", entry=entry, name=name,
                           have=info.file_size, most=limits.file_bytes)
    return parts


def outside_layout(entry: str, name: str) -> ArchiveError:
    return ArchiveError(f"{entry} in {name} is outside a task's layout: support/<class>/<image>, "
                        "query/<class>/<image> and task.json.", "archive_layout", entry=entry, name=name)


def read_opened(opened: zipfile.ZipFile, folder: Path, name: str, limits: Limits) -> TaskArchive:
    """The checks of ``read_task_archive`` on an opened archive, then its extraction."""
    kept: list[tuple[zipfile.ZipInfo, list[str]]] = []
    seen = set()
    for info in opened.infolist():
        parts = checked_entry(info, name, limits)
        if parts is None:
            continue
        key = "/".join(parts)
        if key in seen and not info.is_dir():
            raise ArchiveError(f"{info.filename} is in {name} twice.", "archive_twice", entry=info.filename,
                               name=name)
        seen.add(key)
        kept.append((info, parts))
    # a folder zipped as it is ("glyphs-5way/support/…"): read from inside it
    tops = {parts[0] for info, parts in kept if len(parts) > 1 or info.is_dir()}
    if len(tops) == 1 and not tops & {SUPPORT, QUERY} and all(len(p) > 1 or i.is_dir() for i, p in kept):
        kept = [(info, parts[1:]) for info, parts in kept if len(parts) > 1]
    description = example = None
    files: dict[str, dict[str, list[zipfile.ZipInfo]]] = {SUPPORT: {}, QUERY: {}}
    for info, parts in kept:
        if info.is_dir():
            if len(parts) > 2 or parts[0] not in files:
                raise outside_layout(info.filename, name)
            if len(parts) == 2:
                files[parts[0]].setdefault(parts[1], [])
        elif len(parts) == 1 and parts[0] in (DESCRIPTION, EXAMPLE_CARD):
            if info.file_size > limits.description_bytes:
                raise outside_layout(info.filename, name)
            if parts[0] == DESCRIPTION:
                description = info
            else:
                example = info
        elif len(parts) == 3 and parts[0] in files:
            files[parts[0]].setdefault(parts[1], []).append(info)
        else:
            raise outside_layout(info.filename, name)
    declared = sum(info.file_size for part in files.values() for infos in part.values() for info in infos)
    if declared > limits.total_bytes:
        raise too_large(name, declared, limits)
    for folder_name in files[QUERY]:
        if folder_name not in files[SUPPORT]:
            raise outside_layout(f"{QUERY}/{folder_name}/", name)
    if description is not None:
        domain, names, folders, sources = described(opened, description, name, set(files[SUPPORT]))
    else:
        domain, sources = card_domain(opened, example, name), {}
        folders = sorted(files[SUPPORT])
        names = list(folders)
    numbered = description is not None
    support_infos = [sorted(files[SUPPORT][f], key=lambda i: in_order(i, numbered)) for f in folders]
    query_infos = [sorted(files[QUERY].get(f, []), key=lambda i: in_order(i, numbered)) for f in folders]
    names = checked_classes(names, [len(infos) for infos in support_infos], limits)
    checked_query_count(sum(len(infos) for infos in query_infos), limits)
    counted = [0]

    def extracted(info: zipfile.ZipInfo, part: str, k: int, i: int, shown: str) -> ArchivedImage:
        target = folder / part / f"{k + 1:02d}" / f"{i + 1:02d}{extension(Path(info.filename))}"
        target.parent.mkdir(parents=True, exist_ok=True)
        extract(opened, info, target, name, limits, counted)
        entry = "/".join(info.filename.rstrip("/").split("/")[-3:])
        return ArchivedImage(target, shown, sources.get(entry, "upload"))

    support = [[extracted(info, SUPPORT, k, i, shown_name(info, description is not None))
                for i, info in enumerate(infos)] for k, infos in enumerate(support_infos)]
    queries = [(extracted(info, QUERY, k, i, f"{names[k]}/{shown_name(info, description is not None)}"), k)
               for k, infos in enumerate(query_infos) for i, info in enumerate(infos)]
    return TaskArchive(domain, names, support, queries)


def in_order(info: zipfile.ZipInfo, numbered: bool) -> tuple[int, str]:
    """Where an image stands in its class: by the place that writing put before its name, as a
    number ("100-q.png" after "99-q.png", as a name it sorts between "10-" and "11-"), else by
    its name (a folder zipped by hand, sorted as the app reads ``demo/``)."""
    place = re.match(r"\d+", info.filename.rstrip("/").rsplit("/", 1)[-1]) if numbered else None
    return (int(place.group()) if place else 0, info.filename)


def shown_name(info: zipfile.ZipInfo, numbered: bool) -> str:
    """An image's name as shown: its file name, less the place that writing put before it."""
    base = info.filename.rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"^\d{2,}-", "", base) if numbered else base


def too_large(name: str, have: int, limits: Limits) -> ArchiveError:
    return ArchiveError(f"{name} expands to at least {have:,} bytes; a task's archive may expand to at most "
                        f"{limits.total_bytes:,}.", "archive_too_large", name=name, have=have,
                        most=limits.total_bytes)


def extract(opened: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, name: str, limits: Limits,
            counted: list[int]) -> None:
    """One entry into ``target``, counting what it expands to: no more than it declared, the
    limit of a file, and (``counted``) of the archive."""
    most = min(info.file_size, limits.file_bytes)
    damaged = ArchiveError(f"{info.filename} in {name} is damaged: it does not read back as it was written.",
                           "archive_damaged", entry=info.filename, name=name)
    # (OSError: an entry placed before the file's start, where an end record says the list is
    # further on than it is: zipfile shifts every entry back by the difference, and seeks there)
    unreadable = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError, OSError)
    try:
        source = opened.open(info)
    except unreadable:  # (a local header that is no header; a compression zipfile does not know)
        raise damaged from None
    have = 0
    with source, open(target, "wb") as sink:
        while True:
            try:
                chunk = source.read(1 << 20)
            except unreadable:  # (CRC mismatch, truncated or invalid compressed data)
                raise damaged from None
            if not chunk:
                break
            have += len(chunk)
            counted[0] += len(chunk)
            if have > most:  # (zipfile stops at the declared size itself; counted all the same)
                raise ArchiveError(f"{info.filename} in {name} expands to more than {most:,} bytes, past what it "
                                   "declares or a file in a task's archive may have.", "archive_file_too_large",
                                   entry=info.filename, name=name, have=have, most=most)
            if counted[0] > limits.total_bytes:
                raise too_large(name, counted[0], limits)
            sink.write(chunk)


def small_file(opened: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A description's bytes (``task.json``, ``example.json``: at most ``description_bytes``, as
    declared), read in steps of that size. ``ZipFile.read`` asks the decompressor for up to 2 GB
    at once and cuts the result to the declared size after: a ``task.json`` said to be 10 bytes,
    600 MB of spaces in 600 kB of Deflate, took +1.2 GB before it was refused as damaged."""
    with opened.open(info) as source:
        return source.read(info.file_size)


def described(opened: zipfile.ZipFile, info: zipfile.ZipInfo, name: str,
              folders: set[str]) -> tuple[str, list[str], list[str], dict[str, str]]:
    """(domain, class names, their folders, images' sources) from ``task.json``."""
    damaged = ArchiveError(f"task.json in {name} is damaged, or describes no task.", "archive_description", name=name)
    try:
        card = json.loads(small_file(opened, info).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            OSError):
        raise damaged from None
    if not isinstance(card, dict) or not isinstance(card.get("format"), int) or not isinstance(card.get("classes"), list):
        raise damaged
    if card["format"] > FORMAT:
        raise ArchiveError(f"{name} was saved in a later format ({card['format']}) than this version reads ({FORMAT}).",
                           "archive_format", name=name, have=card["format"], most=FORMAT)
    domain = card.get("domain", "characters")
    if domain not in DOMAINS:
        raise ArchiveError(f"{name} names the domain “{domain}”: a task's domain is characters or photos.",
                           "archive_domain", name=name, domain=str(domain))
    classes = card["classes"]
    if not all(isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("folder"), str)
               for c in classes):
        raise damaged
    listed = [c["folder"] for c in classes]
    for folder in listed:
        if folder not in folders or listed.count(folder) > 1:
            raise damaged  # (an empty class has a folder, as the app saves none)
    for folder in sorted(folders - set(listed)):
        raise outside_layout(f"{SUPPORT}/{folder}/", name)
    sources = card.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(k, str) and v in SOURCES for k, v in sources.items()):
        raise damaged
    return domain, [c["name"] for c in classes], listed, sources


def card_domain(opened: zipfile.ZipFile, info: zipfile.ZipInfo | None, name: str) -> str:
    """The domain an ``example.json`` names (as ``demo/``'s photo example does), else characters."""
    if info is None:
        return "characters"
    try:
        card = json.loads(small_file(opened, info).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            OSError):
        card = None
    domain = card.get("domain", "characters") if isinstance(card, dict) else None
    if domain not in DOMAINS:
        raise ArchiveError(f"{name} names the domain “{domain}”: a task's domain is characters or photos.",
                           "archive_domain", name=name, domain=str(domain))
    return domain


def check_images(task: TaskArchive, prepare: Callable) -> None:
    """Read every image as the task will (``image_reading``); refuse the task naming each one refused."""
    problems = []
    for k, images in enumerate(task.support):
        for image in images + [q for q, label in task.queries if label == k]:
            shown = f"{task.class_names[k]}/{image.name}" if "/" not in image.name else image.name
            try:
                prepare(str(image.path), image_reading(task.domain, image.source), name=shown)
            except ImageInputError as error:
                problems.append((shown, error))
    if problems:
        listed = ", ".join(shown for shown, _ in problems)
        reasons = " ".join(str(error) for _, error in problems)
        raise ArchiveImageError(f"These images cannot be used: {listed}. {reasons}", "archive_images",
                                problems=problems, names=listed)
