"""The document feeder and the output tray of the simulated hardware."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mfp_sim.hwsim.errors import HwsimError, ScannerError, TrayError
from mfp_sim.hwsim.printer import OutputTray, sanitize_name
from mfp_sim.hwsim.scanner import MAX_PAGES, Scanner

SMALL_DPI = 40  # A4 at 40 dpi is 331 x 468: fast, still a whole page


# -- scanner: generated pages --------------------------------------------------------------


def test_scan_gives_a4_bilevel_pages_with_resolution() -> None:
    pages = Scanner(dpi=SMALL_DPI).scan(3, job_id="J0001", label="Quarterly report")
    assert len(pages) == 3
    for page in pages:
        assert page.mode == "1"
        assert page.size == (331, 468)
        assert page.info["dpi"] == (SMALL_DPI, SMALL_DPI)
        low, high = page.getextrema()
        assert (low, high) == (0, 255)  # black marks on white paper


def test_full_resolution_page_size() -> None:
    assert Scanner().page_size == (1654, 2339)  # A4 at 200 dpi


def test_scan_is_deterministic_and_pages_differ() -> None:
    first = Scanner(dpi=SMALL_DPI).scan(2, job_id="J7", label="x")
    again = Scanner(dpi=SMALL_DPI).scan(2, job_id="J7", label="x")
    other = Scanner(dpi=SMALL_DPI).scan(2, job_id="J8", label="x")
    assert [p.tobytes() for p in first] == [p.tobytes() for p in again]
    assert first[0].tobytes() != first[1].tobytes()
    assert first[0].tobytes() != other[0].tobytes()


@pytest.mark.parametrize("count", [0, -1, MAX_PAGES + 1, True, 2.0, "3"])
def test_page_count_out_of_range(count: object) -> None:
    with pytest.raises(ScannerError, match="page count"):
        Scanner(dpi=SMALL_DPI).scan(count, job_id="J1")  # type: ignore[arg-type]


def test_page_count_bounds_are_inclusive() -> None:
    assert len(Scanner(dpi=SMALL_DPI).scan(1, job_id="J1")) == 1
    with pytest.raises(ScannerError, match="1 to 999"):
        Scanner(dpi=SMALL_DPI).scan(1000, job_id="J1")


def test_scan_needs_job_id_and_bounded_label() -> None:
    with pytest.raises(ScannerError, match="job id"):
        Scanner(dpi=SMALL_DPI).scan(1, job_id=" ")
    with pytest.raises(ScannerError, match="label"):
        Scanner(dpi=SMALL_DPI).scan(1, job_id="J1", label="x" * 201)


def test_resolution_bounds() -> None:
    with pytest.raises(ScannerError, match="dpi"):
        Scanner(dpi=10)
    with pytest.raises(ScannerError, match="dpi"):
        Scanner(dpi=1200)


# -- scanner: loaded files -----------------------------------------------------------------


def test_load_images_and_multipage_tiff(tmp_path: Path) -> None:
    png = tmp_path / "logo.png"
    rgba = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    rgba.save(png, dpi=(150, 150))
    tiff = tmp_path / "two.tif"
    first = Image.new("L", (20, 10), 0)
    first.save(tiff, save_all=True, append_images=[Image.new("L", (20, 10), 200)])

    pages = Scanner().load([png, str(tiff)])

    assert [p.size for p in pages] == [(40, 30), (20, 10), (20, 10)]
    assert pages[0].mode == "RGB"
    assert pages[0].getpixel((0, 0)) == (255, 255, 255)  # transparent is white paper
    assert pages[0].info["dpi"] == pytest.approx((150, 150), abs=0.1)  # PNG stores dots per metre
    assert [p.getpixel((0, 0)) for p in pages[1:]] == [0, 200]


def test_load_missing_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(ScannerError, match=r"nope\.png: no such file"):
        Scanner().load([missing])


def test_load_rejects_non_images_and_folders(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(ScannerError, match=r"notes\.txt: not an image"):
        Scanner().load([text])
    with pytest.raises(ScannerError, match="not a regular file"):
        Scanner().load([tmp_path])
    broken = tmp_path / "broken.png"
    buffer = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer)
    broken.write_bytes(buffer.read_bytes()[:60])
    with pytest.raises(ScannerError, match=r"broken\.png"):
        Scanner().load([broken])


def test_load_needs_a_list(tmp_path: Path) -> None:
    with pytest.raises(ScannerError, match="at least one"):
        Scanner().load([])
    with pytest.raises(ScannerError, match="list of files"):
        Scanner().load(str(tmp_path / "a.png"))


def test_errors_belong_to_the_hwsim_tree() -> None:
    assert issubclass(ScannerError, HwsimError)
    assert issubclass(TrayError, HwsimError)


# -- output tray ---------------------------------------------------------------------------


def test_print_document_names_file_by_job_and_name(tmp_path: Path) -> None:
    tray = OutputTray(tmp_path / "tray")
    path = tray.print_document("J0001", "report", b"%PDF-1.4 fake", "pdf")
    assert path == tmp_path / "tray" / "J0001-report.pdf"
    assert path.read_bytes() == b"%PDF-1.4 fake"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..", "document"),
        (".hidden", "hidden"),
        ("Fattura è 2027.pdf", "Fattura___2027.pdf"),
        ("a\\b:c*d?e", "a_b_c_d_e"),
        ("-rf", "rf"),
        ("", "document"),
    ],
)
def test_names_are_sanitised(name: str, expected: str) -> None:
    assert sanitize_name(name) == expected


def test_hostile_names_stay_in_the_tray(tmp_path: Path) -> None:
    tray = OutputTray(tmp_path)
    for name in ("../../escape", "/abs/path", "..", "a/../../b", "x" * 500):
        path = tray.print_document("../J1", name, b"x", "txt")
        assert path.parent == tmp_path
        assert not path.name.startswith(".")
        assert len(path.name) < 220
    assert sorted(p.parent for p in tmp_path.rglob("*")) == [tmp_path] * 5


@pytest.mark.parametrize("ext", ["", "p/f", "../pdf", "a b", "x" * 11])
def test_bad_extension_is_refused(tmp_path: Path, ext: str) -> None:
    with pytest.raises(TrayError, match="extension"):
        OutputTray(tmp_path).print_document("J1", "doc", b"x", ext)


def test_extension_is_normalised(tmp_path: Path) -> None:
    path = OutputTray(tmp_path).print_document("J1", "doc", b"x", ".PDF")
    assert path.name == "J1-doc.pdf"


def test_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "J1-doc.pdf").write_bytes(b"already here")
    tray = OutputTray(tmp_path)
    second = tray.print_document("J1", "doc", b"two", "pdf")
    third = tray.print_document("J1", "doc", b"three", "pdf")
    assert (tmp_path / "J1-doc.pdf").read_bytes() == b"already here"
    assert second.name == "J1-doc-2.pdf" and second.read_bytes() == b"two"
    assert third.name == "J1-doc-3.pdf" and third.read_bytes() == b"three"


def test_no_temporary_files_left(tmp_path: Path) -> None:
    tray = OutputTray(tmp_path)
    tray.print_document("J1", "a", b"1" * 10_000, "bin")
    assert [p.name for p in tmp_path.iterdir()] == ["J1-a.bin"]


def test_print_pages_writes_one_png_per_page(tmp_path: Path) -> None:
    pages = Scanner(dpi=SMALL_DPI).scan(2, job_id="J2")
    paths = OutputTray(tmp_path).print_pages("J2", "fax from bob", pages)
    assert [p.name for p in paths] == ["J2-fax_from_bob-p1.png", "J2-fax_from_bob-p2.png"]
    for path, page in zip(paths, pages, strict=True):
        with Image.open(path) as printed:
            assert printed.format == "PNG"
            assert printed.size == page.size
            assert printed.convert("1").tobytes() == page.tobytes()
    with pytest.raises(TrayError, match="no pages"):
        OutputTray(tmp_path).print_pages("J2", "x", [])


def test_list_is_in_print_order_not_name_order(tmp_path: Path) -> None:
    (tmp_path / "old-z.txt").write_bytes(b"zz")
    (tmp_path / "old-a.txt").write_bytes(b"a")
    (tmp_path / ".hidden").write_bytes(b"h")
    tray = OutputTray(tmp_path)
    tray.print_document("J9", "b", b"bbb", "txt")
    tray.print_document("J1", "a", b"aaaa", "txt")

    items = tray.list()

    assert [(i.name, i.size) for i in items] == [
        ("old-a.txt", 1),
        ("old-z.txt", 2),
        ("J9-b.txt", 3),
        ("J1-a.txt", 4),
    ]
    assert [i.seq for i in items] == sorted(i.seq for i in items)
    items[0].path.unlink()
    assert [i.name for i in tray.list()] == ["old-z.txt", "J9-b.txt", "J1-a.txt"]


def test_tray_folder_must_be_a_folder(tmp_path: Path) -> None:
    plain = tmp_path / "file"
    plain.write_text("x")
    with pytest.raises(TrayError, match="file"):
        OutputTray(plain)


def test_data_must_be_bytes(tmp_path: Path) -> None:
    with pytest.raises(TrayError, match="bytes"):
        OutputTray(tmp_path).print_document("J1", "doc", "text", "txt")  # type: ignore[arg-type]


def test_has_knows_a_job_from_what_it_printed_and_from_the_folder(tmp_path: Path) -> None:
    tray = OutputTray(tmp_path / "tray")
    assert not tray.has("fax0123")
    tray.print_pages("fax0123", "fax", [Image.new("1", (8, 8), 255)])
    tray.print_document("scan-7", "doc", b"%PDF-1.4", "pdf")
    assert tray.has("fax0123") and tray.has("scan-7") and not tray.has("fax0124")
    again = OutputTray(tmp_path / "tray")  # power-on: read from the folder's names
    assert again.has("fax0123") and again.has("scan-7") and not again.has("fax01")
    assert not again.has("fax0123-fax-p1")  # a whole file name is not a job id


def test_sync_makes_files_durable_and_names_a_missing_one(tmp_path: Path) -> None:
    tray = OutputTray(tmp_path / "tray")
    path = tray.print_document("j1", "doc", b"%PDF-1.4", "pdf")
    tray.sync([path])  # fsync of the file and of the folder; nothing to see but no error
    with pytest.raises(TrayError, match="cannot be synced"):
        tray.sync([tmp_path / "tray" / "gone.pdf"])
