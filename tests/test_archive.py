"""A task saved as one zip and opened again (``fewshot.archive``): the same task comes back,
byte for byte, and an archive from anywhere is refused, naming why, before it can do harm."""

from __future__ import annotations

import json
import shutil
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from fewshot.archive import ArchiveError, ArchiveImageError, ArchivedImage, Limits, read_task_archive, write_task_archive

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
GLYPHS = sorted((DEMO / "glyphs-5way" / "support").iterdir())
PNG = (GLYPHS[0] / "1.png").read_bytes()


def glyphs(k: int, n: int) -> list[Path]:
    return sorted(GLYPHS[k % len(GLYPHS)].glob("*.png"))[:n]


def test_a_task_comes_back_as_it_was_saved(tmp_path):
    """Names that are no file names ("a/b", "..", "CON"), Unicode;
    each image's bytes and extension (a JPEG stays a JPEG), its shown name and source; the
    queries and their labels; the domain."""
    names = ["a/b", "..", "CON", "Eye", "Ear", "日本語 ✓ שלום"]
    jpeg = tmp_path / "upload.jpg"
    Image.open(glyphs(0, 1)[0]).convert("RGB").save(jpeg, quality=90)
    drawing = tmp_path / "0f3a.png"  # a drawing is kept under a made-up name and shown as drawing.png
    drawing.write_bytes(glyphs(1, 1)[0].read_bytes())
    support = [glyphs(k, 2) for k in range(len(names))]
    support[0].append(jpeg)
    support[1].append(ArchivedImage(drawing, "drawing.png"))
    support[2] = [ArchivedImage(p, p.name, "omniglot") for p in support[2]]
    queries = [(ArchivedImage(p, f"{names[k]}/{p.name}"), k) for k in range(len(names)) for p in glyphs(k, 5)[4:]]
    saved = write_task_archive(tmp_path / "task.zip", names, support, queries, domain="characters")
    with zipfile.ZipFile(saved) as archive:
        listed = archive.namelist()
    assert "task.json" in listed and all(n == "task.json" or n.startswith(("support/", "query/")) for n in listed)
    assert len({n.lower() for n in listed}) == len(listed) and not any(".." in n.split("/") for n in listed)

    task = read_task_archive(saved, tmp_path / "opened")
    assert task.class_names == names and task.domain == "characters"
    for given, read in zip(support, task.support):
        given = [g if isinstance(g, ArchivedImage) else ArchivedImage(g, g.name) for g in given]
        assert [r.path.read_bytes() for r in read] == [Path(g.path).read_bytes() for g in given]
        assert [r.name for r in read] == [g.name for g in given]
        assert [r.source for r in read] == [g.source for g in given]
        assert [r.path.suffix for r in read] == [Path(g.path).suffix for g in given]
    assert [(q.name, q.path.read_bytes(), label) for q, label in task.queries] == \
        [(q.name, q.path.read_bytes(), label) for q, label in queries]
    assert all(p.is_relative_to(tmp_path / "opened") for images in task.support for p in [i.path for i in images])

    photos = write_task_archive(tmp_path / "photos.zip", ["x", "y"], [glyphs(0, 1), glyphs(1, 1)], domain="photos")
    assert read_task_archive(photos, tmp_path / "photos", prepare=None).domain == "photos"


def test_a_task_saved_again_is_the_same_bytes(tmp_path, monkeypatch):
    """Its files' times and the time of saving are not kept: the app's server keeps each file it
    serves under the hash of its bytes (a task saved again was one more copy on its disk)."""
    import os
    import time

    first = write_task_archive(tmp_path / "first.zip", ["eye", "fork"], [glyphs(0, 2), glyphs(1, 1)])
    copies = []
    for k, n in ((0, 2), (1, 1)):
        copies.append([])
        for path in glyphs(k, n):
            copy = tmp_path / f"{k}-{path.name}"
            copy.write_bytes(path.read_bytes())
            os.utime(copy, (1_000_000_000, 1_000_000_000))
            copies[-1].append(ArchivedImage(copy, path.name))
    monkeypatch.setattr(time, "time", lambda: 1_500_000_000.0)
    again = write_task_archive(tmp_path / "again.zip", ["eye", "fork"], copies)
    assert again.read_bytes() == first.read_bytes()
    assert zipfile.ZipFile(again).getinfo("support/01-eye/01-1.png").external_attr >> 16 == 0o100644


def test_a_zipped_demo_folder_opens_as_its_example(tmp_path):
    """A folder of the layout zipped by hand: as it is (the folder itself in the zip) or its
    contents, folder names as class names, the domain from example.json, else characters."""
    wrapped = shutil.make_archive(str(tmp_path / "scenes"), "zip", DEMO, "scenes-3way")
    task = read_task_archive(wrapped, tmp_path / "scenes", prepare=None)
    assert task.domain == "photos" and task.class_names == ["brick wall", "sea waves", "starry sky"]
    assert [len(images) for images in task.support] == [5, 5, 5] and len(task.queries) == 9
    assert task.queries[0][0].name == "brick wall/1.png" and task.queries[0][1] == 0
    contents = shutil.make_archive(str(tmp_path / "glyphs"), "zip", DEMO / "glyphs-3way")
    task = read_task_archive(contents, tmp_path / "glyphs")
    assert task.domain == "characters" and task.class_names == sorted(p.name for p in (DEMO / "glyphs-3way" / "support").iterdir())
    assert task.support[0][0].path.read_bytes() == (DEMO / "glyphs-3way" / "support" / task.class_names[0] / "1.png").read_bytes()


def test_folders_whose_names_differ_only_in_case_are_one_class_and_refused(tmp_path):
    """A folder zipped by hand with support/Eye/ and support/eye/ (two folders on Linux, one on
    Windows and macOS) is refused as a task naming one class twice is, in the service's words:
    the archive read them as two classes, which the app then refused with words of its own."""
    hand_made = zipped(tmp_path / "case.zip", [("support/Eye/1.png", PNG), ("support/eye/1.png", PNG),
                                                ("support/fork/1.png", PNG)])
    with pytest.raises(ArchiveError) as refused:
        read_task_archive(hand_made, tmp_path / "opened", prepare=None)
    assert refused.value.code == "duplicates" and refused.value.values == {"names": "Eye, eye"}
    assert not (tmp_path / "opened").exists()


def zipped(path: Path, entries: list) -> Path:
    """A zip of ``entries``: (name, bytes) or (ZipInfo, bytes), and a compression of its own."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # (zipfile warns of a name written twice)
        for name, data, *compression in entries:
            archive.writestr(name, data, *compression)
    return path


def declared_size(path: Path, size: int) -> Path:
    """The archive with its one file's uncompressed size, in both headers, said to be ``size``."""
    data = bytearray(path.read_bytes())
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 22:local + 26] = size.to_bytes(4, "little")
    data[central + 24:central + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def zip64_listed(path: Path, entries: int, name_bytes: int) -> Path:
    """A list of ``entries`` entries (names of ``name_bytes`` bytes) that a ZIP64 end record
    counts, after a plain end record that says 1 entry of 46 bytes: ``zipfile`` reads the first."""
    name = b"a" * name_bytes
    listing = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0, 0, 0)
    listing = (listing + name) * entries
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, len(listing), 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(listing), 1)
    path.write_bytes(listing + record + locator + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46, 0, 0))
    return path


def patched(path: Path, signature: bytes, at: int, value: int, size: int = 4) -> Path:
    """The archive with a field of its last record of ``signature`` (at ``at`` in it) set to ``value``."""
    data = bytearray(path.read_bytes())
    record = data.rfind(signature)
    data[record + at:record + at + size] = value.to_bytes(size, "little")
    path.write_bytes(bytes(data))
    return path


def link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system, info.external_attr = 3, (0o120777 << 16)  # a symbolic link, as unzip makes one
    return info


def special(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system, info.external_attr = 3, mode << 16
    return info


def described_as(classes: list, **more) -> bytes:
    """A task.json of (name, folder) classes, and ``more`` fields (``domain``, ``sources``)."""
    return json.dumps({"format": 1, "classes": [{"name": n, "folder": f} for n, f in classes], **more}).encode()


def later_format() -> bytes:
    return json.dumps({"format": 2, "domain": "characters", "classes": [{"name": "a", "folder": "a"}]}).encode()


SMALL = Limits(classes=3, shots=2, queries=2, file_bytes=1000, total_bytes=5000)
REFUSALS = {
    "not a zip": (lambda p: (p.write_text("a list of names, not a zip"), p)[1], Limits(), "archive_not_zip",
                  "is not a zip archive"),
    "a bomb that declares past the limit": (
        lambda p: declared_size(zipped(p, [("support/a/1.png", b"\0" * 100)]), 400_000_000), Limits(),
        "archive_file_too_large", "expands to 400,000,000 bytes"),
    "a file that expands past the limit": (
        lambda p: zipped(p, [("support/a/1.png", b"\0" * 100_000)]), SMALL, "archive_file_too_large",
        "a file in a task's archive may have at most 1,000"),
    "a bomb that expands past what it declares": (
        lambda p: declared_size(zipped(p, [("support/a/1.png", b"\0" * 100_000)]), 500), Limits(),
        "archive_damaged", "is damaged"),
    "files that expand past the archive's limit together": (
        lambda p: zipped(p, [(f"support/{c}/{i}.png", b"\0" * 900) for c in "ab" for i in range(2)] +
                         [(f"query/{c}/q.png", b"\0" * 900) for c in "ab"]), SMALL, "archive_too_large",
        "may expand to at most 5,000"),
    "a path out of the archive": (lambda p: zipped(p, [("support/a/../../../escaped.png", PNG)]), Limits(),
                                  "archive_traversal", "leads outside the archive"),
    "a Windows path out of the archive": (lambda p: zipped(p, [("support\\..\\..\\escaped.png", PNG)]), Limits(),
                                          "archive_traversal", "leads outside the archive"),
    "an absolute path": (lambda p: zipped(p, [("/tmp/support/a/1.png", PNG)]), Limits(), "archive_absolute",
                         "is an absolute path"),
    "a symbolic link": (lambda p: zipped(p, [(link("support/a/1.png"), "/etc/passwd")]), Limits(), "archive_link",
                        "is a symbolic link"),
    "a file outside the layout": (lambda p: zipped(p, [("support/a/1.png", PNG), ("notes.txt", b"hi")]), Limits(),
                                  "archive_layout", "notes.txt in bad.zip is outside a task's layout"),
    "a folder too deep": (lambda p: zipped(p, [("support/a/more/1.png", PNG)]), Limits(), "archive_layout",
                          "outside a task's layout"),
    "queries of no class": (lambda p: zipped(p, [("support/a/1.png", PNG), ("query/b/1.png", PNG)]), Limits(),
                            "archive_layout", "query/b/"),
    "too many files": (lambda p: zipped(p, [(f"support/a/{i}.png", b"") for i in range(Limits().entries + 1)]),
                       Limits(), "archive_entries", "a task's archive holds at most 648"),
    "a ZIP64 list past the limit, its plain end record saying one entry": (
        lambda p: zip64_listed(p, 600, 2400), Limits(), "archive_listing", "list of entries is 1,467,600 bytes"),
    "a bzip2 bomb (zipfile expands each read of it whole)": (
        lambda p: zipped(p, [("support/a/1.png", PNG, zipfile.ZIP_BZIP2)]), Limits(), "archive_compression",
        "support/a/1.png in bad.zip is compressed with bzip2"),
    "an LZMA entry": (lambda p: zipped(p, [("support/a/1.png", PNG, zipfile.ZIP_LZMA)]), Limits(),
                      "archive_compression", "compressed with LZMA"),
    "an end record that puts the list further on than it is (entries before the file's start)": (
        lambda p: patched(zipped(p, [("support/a/1.png", PNG)]), b"PK\x05\x06", 16, 5000), Limits(),
        "archive_damaged", "support/a/1.png in bad.zip is damaged"),
    "an entry that needs zip version 19.8": (
        lambda p: patched(zipped(p, [("support/a/1.png", PNG)]), b"PK\x01\x02", 6, 198, 1), Limits(),
        "archive_not_zip", "is not a zip archive"),
    "a name twice": (lambda p: zipped(p, [("support/a/1.png", PNG), ("support/a/1.png", PNG)]), Limits(),
                     "archive_twice", "twice"),
    "a class without images": (lambda p: zipped(p, [("support/a/", b""), ("support/b/1.png", PNG)]), Limits(),
                               "empty_classes", "These classes have no images: a."),
    "too many classes": (lambda p: zipped(p, [(f"support/{c}/1.png", PNG) for c in "abcd"]), SMALL, "too_many",
                         "At most 3 classes are supported; the task has 4."),
    "too many images in a class": (lambda p: zipped(p, [(f"support/a/{i}.png", PNG) for i in range(3)]), SMALL,
                                   "too_many_shots", "“a” would have 3"),
    "too many queries": (lambda p: zipped(p, [("support/a/1.png", PNG)] + [(f"query/a/{i}.png", PNG) for i in range(3)]),
                         SMALL, "too_many_queries", "At most 2 query images"),
    "a class name too long": (
        lambda p: zipped(p, [("task.json", json.dumps({"format": 1, "classes": [{"name": "x" * 61, "folder": "a"}]})),
                             ("support/a/1.png", PNG)]), Limits(), "name_too_long", "at most 60 characters"),
    "a later format": (lambda p: zipped(p, [("task.json", later_format()), ("support/a/1.png", PNG)]), Limits(),
                       "archive_format", "later format (2)"),
    "an unknown domain": (lambda p: zipped(p, [("example.json", b'{"domain": "sounds"}'), ("support/a/1.png", PNG)]),
                          Limits(), "archive_domain", "“sounds”"),
    "a drive-letter path": (lambda p: zipped(p, [("C:/support/a/1.png", PNG), ("C:/support/b/1.png", PNG)]), Limits(),
                            "archive_absolute", "C:/support/a/1.png in bad.zip is an absolute path"),
    "a named pipe (a special file that is no link)": (
        lambda p: zipped(p, [(special("support/a/1.png", 0o010644), b""), ("support/b/1.png", PNG)]), Limits(),
        "archive_link", "is a symbolic link or another special file"),
    "a folder named '.'": (lambda p: zipped(p, [("support/./1.png", PNG), ("support/b/1.png", PNG)]), Limits(),
                           "archive_layout", "support/./1.png in bad.zip is not a name"),
    "a control character in a name": (
        lambda p: zipped(p, [("support/a\x1b[2J/1.png", PNG), ("support/b/1.png", PNG)]), Limits(), "archive_layout",
        "is not a name a task's archive holds"),
    "an encrypted entry": (lambda p: patched(zipped(p, [("support/a/1.png", PNG)]), b"PK\x01\x02", 8, 1, 2), Limits(),
                           "archive_encrypted", "support/a/1.png in bad.zip is encrypted"),
    "an end record cut short": (lambda p: (p.write_bytes(b"\0" * 100 + b"PK\x05\x06" + b"\0" * 5), p)[1], Limits(),
                                "archive_not_zip", "is not a zip archive"),
    "two tasks' folders side by side": (
        lambda p: zipped(p, [("one/support/a/1.png", PNG), ("two/support/b/1.png", PNG)]), Limits(), "archive_layout",
        "outside a task's layout"),
    "a task.json naming one folder for two classes": (
        lambda p: zipped(p, [("task.json", described_as([("a", "a"), ("b", "a")])), ("support/a/1.png", PNG)]), Limits(),
        "archive_description", "task.json in bad.zip is damaged"),
    "a task.json naming a folder that is not there": (
        lambda p: zipped(p, [("task.json", described_as([("a", "a"), ("b", "b")])), ("support/a/1.png", PNG)]), Limits(),
        "archive_description", "task.json in bad.zip is damaged"),
    "a class folder that task.json does not name": (
        lambda p: zipped(p, [("task.json", described_as([("a", "a")])), ("support/a/1.png", PNG), ("support/b/1.png", PNG)]),
        Limits(), "archive_layout", "support/b/ in bad.zip is outside a task's layout"),
    "a task.json with a class name that is no text": (
        lambda p: zipped(p, [("task.json", described_as([(7, "a"), ("b", "b")])), ("support/a/1.png", PNG),
                             ("support/b/1.png", PNG)]), Limits(), "archive_description", "is damaged"),
    "a task.json naming an image's source the app does not know": (
        lambda p: zipped(p, [("task.json", described_as([("a", "a"), ("b", "b")], sources={"support/a/1.png": "camera"})),
                             ("support/a/1.png", PNG), ("support/b/1.png", PNG)]), Limits(), "archive_description",
        "is damaged"),
    "a task.json naming an unknown domain": (
        lambda p: zipped(p, [("task.json", described_as([("a", "a"), ("b", "b")], domain="sounds")),
                             ("support/a/1.png", PNG), ("support/b/1.png", PNG)]), Limits(), "archive_domain",
        "names the domain “sounds”"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_an_archive_is_refused_naming_why_and_leaves_nothing(tmp_path, case):
    make, limits, code, words = REFUSALS[case]
    bad = make(tmp_path / "bad.zip")
    with pytest.raises(ArchiveError) as refused:
        read_task_archive(bad, tmp_path / "opened", prepare=None, limits=limits)
    assert refused.value.code == code and words in str(refused.value), str(refused.value)
    assert not (tmp_path / "opened").exists() and not (tmp_path / "escaped.png").exists()


def test_a_task_json_that_expands_past_what_it_declares_is_not_read_whole(tmp_path):
    """ZipFile.read decompresses up to 2 GB at once, then cuts to the declared size."""
    import tracemalloc

    bomb = declared_size(zipped(tmp_path / "bad.zip", [("task.json", b" " * 30_000_000), ("support/a/1.png", PNG)]), 10)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError) as refused:
            read_task_archive(bomb, tmp_path / "opened", prepare=None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.code == "archive_description" and peak < 5_000_000, peak


def test_an_image_that_cannot_be_read_refuses_the_archive_naming_each(tmp_path):
    bad = zipped(tmp_path / "bad.zip", [("support/eye/1.png", PNG), ("support/eye/notes.png", b"not an image"),
                                        ("support/dot/1.png", PNG), ("query/dot/blank.png", b"")])
    with pytest.raises(ArchiveImageError) as refused:
        read_task_archive(bad, tmp_path / "opened")
    assert [shown for shown, _ in refused.value.problems] == ["dot/blank.png", "eye/notes.png"]
    assert refused.value.code == "archive_images" and "eye/notes.png is not an image file" in str(refused.value)
    assert not (tmp_path / "opened").exists()


def test_a_task_that_would_not_open_again_is_not_saved(tmp_path):
    with pytest.raises(ArchiveError) as refused:
        write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [glyphs(0, 1), []])
    assert refused.value.code == "empty_classes" and "fork" in str(refused.value)
    with pytest.raises(ArchiveError) as refused:
        write_task_archive(tmp_path / "task.zip", ["eye", "eye "], [glyphs(0, 1), glyphs(1, 1)])
    assert refused.value.code == "duplicates"
    with pytest.raises(ArchiveError) as refused:  # (one class to the app: saved, it would not open there)
        write_task_archive(tmp_path / "task.zip", ["Eye", "eye"], [glyphs(0, 1), glyphs(1, 1)])
    assert str(refused.value) == ("Class names must differ (case and spacing aside): more than one class is "
                                  "named Eye, eye.") and refused.value.code == "duplicates"
    assert not list(tmp_path.iterdir())  # nothing written, not even a partial file
    assert zipfile.is_zipfile(write_task_archive(tmp_path / "task.zip", ["eye"], [glyphs(0, 1)]))


# ---- writing: what a caller gets wrong, and how the archive is written ----------------------


def test_writing_refuses_what_the_caller_got_wrong_and_writes_nothing(tmp_path):
    """A domain the app has no model for, a class without its list of images, a query labelled
    with no class (-1 is no "last class"), more queries than open again, an image that is gone:
    refused before a byte is written (a missing file as ``ArchiveError`` "missing", naming it)."""
    one, two = glyphs(0, 1), glyphs(1, 1)
    with pytest.raises(ValueError, match="unknown domain"):
        write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [one, two], domain="sounds")
    with pytest.raises(ValueError, match="one list of images per class"):
        write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [one])
    for label in (-1, 2):
        with pytest.raises(ValueError, match=f"query label {label} names no class"):
            write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [one, two], [(two[0], label)])
    with pytest.raises(ArchiveError) as refused:
        write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [one, two], [(two[0], 1)] * 3, limits=SMALL)
    assert refused.value.code == "too_many_queries"
    with pytest.raises(ArchiveError) as refused:
        write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [one, [tmp_path / "gone.png"]])
    assert refused.value.code == "missing" and refused.value.values == {"name": "gone.png"}
    assert not list(tmp_path.iterdir())


def test_a_task_is_written_into_a_folder_made_for_it_with_its_images_stored_and_stamped(tmp_path):
    """The app saves into a session's folder that does not exist yet; every entry carries the
    same fixed time (1980-01-01, not the time of saving); images are stored as they are, not
    compressed again (they are compressed already: Deflate would cost time and save nothing)."""
    saved = write_task_archive(tmp_path / "new" / "session" / "task.zip", ["eye", "fork"], [glyphs(0, 2), glyphs(1, 1)],
                               [(glyphs(1, 2)[1], 1)])
    with zipfile.ZipFile(saved) as archive:
        infos = archive.infolist()
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    images = [info for info in infos if info.filename != "task.json"]
    assert len(images) == 4 and {info.compress_type for info in images} == {zipfile.ZIP_STORED}


def test_a_save_that_fails_midway_leaves_no_file_behind(tmp_path, monkeypatch):
    """The archive is written beside its destination (so that moving it in place is one rename on
    one file system, not a copy from /tmp) and, where writing fails (a full disk), neither the
    destination nor the partial file is left."""
    import fewshot.archive

    seen = []

    def disk_full(source, sink, length=0):
        seen.extend(p.name for p in (tmp_path / "out").iterdir())
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fewshot.archive.shutil, "copyfileobj", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_task_archive(tmp_path / "out" / "task.zip", ["eye", "fork"], [glyphs(0, 1), glyphs(1, 1)])
    assert len(seen) == 1 and seen[0].startswith(".partial-") and seen[0].endswith(".zip")
    assert not list((tmp_path / "out").iterdir())


def test_image_names_and_extensions_come_back_from_saving(tmp_path):
    """An upload keeps its file's extension, lower-cased and however long a plain one is
    (".JPG" comes back ".jpg", ".jpeg" and ".webp" as they are), whatever name it is shown by
    (an image shown as "eye" is still the PNG it is); two queries of one class shown by one name
    ("drawing.png", as every drawing is) come back as two."""
    sources = {"photo.JPG": "jpg", "scan.jpeg": "jpeg", "pic.webp": "webp", "plain.png": "png"}
    paths = []
    for file_name in sources:
        path = tmp_path / file_name
        path.write_bytes(PNG)
        paths.append(path)
    shown = ArchivedImage(paths[3], "eye")
    drawings = [(ArchivedImage(path, "drawing.png"), 1) for path in glyphs(1, 2)]
    saved = write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [paths[:3] + [shown], glyphs(1, 1)], drawings)
    task = read_task_archive(saved, tmp_path / "opened", prepare=None)
    assert [image.path.suffix for image in task.support[0]] == [".jpg", ".jpeg", ".webp", ".png"]
    assert [image.name for image in task.support[0]] == ["photo.jpg", "scan.jpeg", "pic.webp", "eye.png"]
    assert [(q.name, q.path.read_bytes(), label) for q, label in task.queries] == \
        [("fork/drawing.png", Path(p.path).read_bytes(), 1) for p, _ in drawings]


def test_names_in_the_archive_can_be_unzipped_anywhere(tmp_path):
    """Each part of each entry's name is at most 255 bytes (a file name's limit on common file
    systems: an image shown by a name of 100 Chinese characters is cut) and none ends with a dot
    (Windows drops it when it unzips, and the folder would no longer be the one task.json names)."""
    long_name = ArchivedImage(glyphs(0, 1)[0], "語" * 100 + ".png")
    saved = write_task_archive(tmp_path / "task.zip", ["etc.", "fork..."], [[long_name], glyphs(1, 1)])
    with zipfile.ZipFile(saved) as archive:
        parts = [part for entry in archive.namelist() for part in entry.split("/")]
    assert all(len(part.encode()) <= 255 and not part.endswith(".") for part in parts), parts
    assert read_task_archive(saved, tmp_path / "opened", prepare=None).class_names == ["etc.", "fork..."]


def test_an_image_that_holds_a_zip_end_record_signature_is_no_end_record(tmp_path):
    """An image's bytes may hold anything, "PK\\5\\6" (the end record's signature) too: the last
    end record in the file is the archive's, not the first one found."""
    odd = tmp_path / "odd.png"
    odd.write_bytes(PNG + b"PK\x05\x06" + b"\xff" * 18)
    saved = write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [[odd], glyphs(1, 1)])
    task = read_task_archive(saved, tmp_path / "opened", prepare=None)
    assert task.support[0][0].path.read_bytes() == odd.read_bytes()


def test_more_than_99_queries_of_a_class_keep_their_names(tmp_path):
    """Writing puts each image's place before its name ("100-q99.png"); reading orders a class's
    images by that place as a number (as names, "100-" sorted between "10-" and "11-": the 100th
    query came back 11th) and takes it off whatever its number of digits. A folder zipped by hand
    has no places: its images stay in the order of their names, as the app reads ``demo/``."""
    queries = []
    for i in range(100):
        path = tmp_path / f"q{i}.png"
        path.write_bytes(PNG)
        queries.append((path, 0))
    saved = write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [glyphs(0, 1), glyphs(1, 1)], queries)
    task = read_task_archive(saved, tmp_path / "opened", prepare=None)
    assert [q.name for q, _ in task.queries] == [f"eye/q{i}.png" for i in range(100)]
    hand_made = zipped(tmp_path / "mine.zip", [(f"support/{c}/{i}.png", PNG) for c in "ab" for i in (2, 10, 1)])
    task = read_task_archive(hand_made, tmp_path / "mine", prepare=None)
    assert [image.name for image in task.support[0]] == ["1.png", "10.png", "2.png"]


# ---- reading: the folder read into, the name and the reading of each image ------------------


def test_an_archive_is_not_read_into_a_folder_that_holds_files(tmp_path):
    """A folder of the caller's files is refused as it is, and its files left alone (a refusal
    empties the folder it read into)."""
    saved = write_task_archive(tmp_path / "task.zip", ["eye", "fork"], [glyphs(0, 1), glyphs(1, 1)])
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="is not empty"):
        read_task_archive(saved, folder, prepare=None)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


def test_a_refused_archive_leaves_an_empty_folder_it_was_given_empty(tmp_path):
    """A folder that was there (and empty) stays there, emptied of what was extracted into it
    before the refusal; a read cut short (a KeyboardInterrupt, a cancelled request) leaves
    nothing either."""
    bad = zipped(tmp_path / "bad.zip", [("support/eye/1.png", PNG), ("support/eye/2.png", b"not an image"),
                                        ("support/dot/1.png", PNG)])
    folder = tmp_path / "given"
    folder.mkdir()
    with pytest.raises(ArchiveImageError):
        read_task_archive(bad, folder)
    assert folder.is_dir() and not list(folder.iterdir())

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        read_task_archive(bad, tmp_path / "made", prepare=interrupted)
    assert not (tmp_path / "made").exists()
    with pytest.raises(KeyboardInterrupt):
        read_task_archive(bad, folder, prepare=interrupted)
    assert folder.is_dir() and not list(folder.iterdir())


def test_refusals_name_the_archive_by_the_name_given(tmp_path):
    """The app reads an upload from a temporary file, and names it as the person chose it."""
    bad = zipped(tmp_path / "tmp1x2y3z.zip", [("support/a/1.png", PNG), ("notes.txt", b"hi")])
    with pytest.raises(ArchiveError) as refused:
        read_task_archive(bad, tmp_path / "opened", name="Meine Aufgabe.zip", prepare=None)
    assert "in Meine Aufgabe.zip is outside" in str(refused.value)
    assert refused.value.values["name"] == "Meine Aufgabe.zip"


def test_each_image_is_read_as_its_source_says(tmp_path):
    """``prepare`` is asked to read an Omniglot file as the dataset is read, an upload (query
    included) as a drawing, and any image of a task of photos as a photo."""
    support = [[ArchivedImage(glyphs(0, 1)[0], "1.png", "omniglot")], glyphs(1, 1)]
    saved = write_task_archive(tmp_path / "task.zip", ["eye", "fork"], support, [(glyphs(0, 2)[1], 0)])
    asked = []
    read_task_archive(saved, tmp_path / "opened", prepare=lambda path, how, name: asked.append((name, how)))
    assert asked == [("eye/1.png", "omniglot"), ("eye/2.png", "characters"), ("fork/1.png", "characters")]
    photos = write_task_archive(tmp_path / "photos.zip", ["eye", "fork"], support, domain="photos")
    asked.clear()
    read_task_archive(photos, tmp_path / "photos", prepare=lambda path, how, name: asked.append(how))
    assert asked == ["photos", "photos"]


# ---- reading: archives made by hand or by other tools that open ----------------------------


def test_what_operating_systems_add_to_a_zipped_folder_is_passed_over(tmp_path):
    """macOS's ``__MACOSX/`` twins and ``.DS_Store``, Windows' ``Thumbs.db`` and ``desktop.ini``,
    a folder's entry listed twice: the task opens as if they were not there."""
    hand_made = zipped(tmp_path / "mine.zip", [
        ("support/", b""), ("support/eye/", b""), ("support/eye/", b""), ("support/eye/1.png", PNG),
        ("support/eye/.DS_Store", b"\0"), ("support/fork/Thumbs.db", b"\0"), ("support/fork/1.png", PNG),
        ("desktop.ini", b"[.ShellClassInfo]"), ("__MACOSX/", b""), ("__MACOSX/support/eye/._1.png", b"\0" * 10),
        (".DS_Store", b"\0")])
    task = read_task_archive(hand_made, tmp_path / "opened", prepare=None)
    assert task.class_names == ["eye", "fork"] and [len(images) for images in task.support] == [1, 1]


def test_a_hand_made_archive_keeps_its_file_names_and_is_characters_unless_told(tmp_path):
    """Without task.json an image's name is its file's, digits and dash included ("01-eye.png" is
    not a place the archive put there); a task.json or example.json that names no domain is a
    task of characters."""
    hand_made = zipped(tmp_path / "mine.zip", [("example.json", b"{}"), ("support/eye/01-eye.png", PNG),
                                               ("support/fork/2024-fork.png", PNG)])
    task = read_task_archive(hand_made, tmp_path / "opened", prepare=None)
    assert task.domain == "characters" and [images[0].name for images in task.support] == ["01-eye.png", "2024-fork.png"]
    described = {"format": 1, "classes": [{"name": "Eye", "folder": "e"}, {"name": "Fork", "folder": "f"}]}
    written = zipped(tmp_path / "written.zip", [("task.json", json.dumps(described)), ("support/e/01-eye.png", PNG),
                                                ("support/f/01-fork.png", PNG)])
    task = read_task_archive(written, tmp_path / "written", prepare=None)
    assert task.domain == "characters" and task.class_names == ["Eye", "Fork"]


def test_a_saved_task_zipped_again_inside_its_folder_keeps_its_sources(tmp_path):
    """A saved task unzipped and zipped again as a folder ("mytask/task.json", "mytask/support/…")
    opens as it was: an Omniglot image is still read as one."""
    saved = write_task_archive(tmp_path / "task.zip", ["eye", "fork"],
                               [[ArchivedImage(glyphs(0, 1)[0], "1.png", "omniglot")], glyphs(1, 1)])
    with zipfile.ZipFile(saved) as archive:
        archive.extractall(tmp_path / "unzipped" / "mytask")
    again = shutil.make_archive(str(tmp_path / "again"), "zip", tmp_path / "unzipped", "mytask")
    task = read_task_archive(again, tmp_path / "opened", prepare=None)
    assert [[image.source for image in images] for images in task.support] == [["omniglot"], ["upload"]]


# ---- reading: limits, exactly at them and past them -----------------------------------------


def test_an_archive_exactly_at_each_limit_opens(tmp_path):
    """A limit is the most an archive may hold, not the first thing refused: as many entries as
    ``Limits.entries``, a list of entries of ``listing_bytes``, a file of ``file_bytes`` and
    files of ``total_bytes`` together."""
    from fewshot.archive import central_directory

    limits = Limits(classes=2, shots=1, queries=0, file_bytes=1000, total_bytes=2000)
    entries = [("support/a/1.png", b"\1" * 1000), ("support/b/1.png", b"\2" * 1000)]
    entries += [(f"__MACOSX/support/a/._{i}.png", b"") for i in range(limits.entries - 2)]
    full = zipped(tmp_path / "full.zip", entries)
    task = read_task_archive(full, tmp_path / "full", prepare=None, limits=limits)
    assert [image.path.stat().st_size for images in task.support for image in images] == [1000, 1000]
    one_long = limits.listing_bytes - 2 * 46 - len("support/b/1.png")  # (46 bytes of header an entry)
    long_listed = zipped(tmp_path / "long.zip", [("support/a/" + "x" * (one_long - len("support/a/.png")) + ".png", PNG),
                                                 ("support/b/1.png", PNG)])
    with open(long_listed, "rb") as file:
        assert central_directory(file) == (2, limits.listing_bytes)
    assert read_task_archive(long_listed, tmp_path / "long", prepare=None, limits=limits).class_names == ["a", "b"]


def test_an_end_record_that_understates_its_entries_is_refused_on_the_entries_listed(tmp_path):
    """The end record's count is checked first (before zipfile reads the list); where it says
    fewer than the list holds, the entries zipfile read are counted too."""
    bad = zipped(tmp_path / "bad.zip", [(f"support/a/{i}.png", b"") for i in range(SMALL.entries + 1)])
    for at in (8, 10):  # (the entries on this disk, and in all)
        patched(bad, b"PK\x05\x06", at, 1, 2)
    with pytest.raises(ArchiveError) as refused:
        read_task_archive(bad, tmp_path / "opened", prepare=None, limits=SMALL)
    assert refused.value.code == "archive_entries" and refused.value.values["have"] == SMALL.entries + 1


def test_files_that_declare_past_the_archive_limit_are_refused_before_any_is_extracted(tmp_path):
    """The sizes the entries declare are added up first: the refusal counts all 6,300 bytes
    declared, not the 5,400 extracted before the running count would pass the limit."""
    bad = zipped(tmp_path / "bad.zip", [(f"support/{c}/{i}.png", b"\0" * 900) for c in "abc" for i in range(2)] +
                 [("query/a/q.png", b"\0" * 900)])
    with pytest.raises(ArchiveError) as refused:
        read_task_archive(bad, tmp_path / "opened", prepare=None, limits=SMALL)
    assert refused.value.code == "archive_too_large" and refused.value.values["have"] == 6300


def test_a_task_json_past_its_limit_is_not_read(tmp_path):
    """task.json and example.json are read whole, so at most ``description_bytes`` (1 MB)."""
    described = json.dumps({"format": 1, "classes": [{"name": "a", "folder": "a"}]}) + " " * Limits().description_bytes
    bad = zipped(tmp_path / "bad.zip", [("task.json", described), ("support/a/1.png", PNG)])
    with pytest.raises(ArchiveError) as refused:
        read_task_archive(bad, tmp_path / "opened", prepare=None)
    assert refused.value.code == "archive_layout" and "task.json in bad.zip" in str(refused.value)
