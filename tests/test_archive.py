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
