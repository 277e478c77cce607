"""Internet Fax codec (TIFF-F, RFC 3965 messages) and Scan to E-mail documents.

Outputs are checked with independent readers: Pillow for TIFF pixels and tags, a few lines
of `struct` for the TIFF directory chain, the stdlib `email` parser for messages, and a
regular expression over the PDF's objects for its page count.
"""

from __future__ import annotations

import io
import random
import re
import struct
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from PIL import Image, ImageChops, TiffImagePlugin

from mfp_sim.firmware.errors import FirmwareError
from mfp_sim.firmware.ifax import (
    Attachment,
    FaxResolution,
    IfaxError,
    IfaxFormatError,
    compose_ifax_message,
    decode_tiff_f,
    encode_tiff_f,
    extract_documents,
    fit_to_fax,
)
from mfp_sim.firmware.scan_pdf import compose_scan_email, encode_pdf, encode_tiff
from mfp_sim.hwsim.scanner import Scanner

SMALL_DPI = 40
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the virtual clock's epoch


def small_pages(count: int, job_id: str = "J0001") -> list[Image.Image]:
    return Scanner(dpi=SMALL_DPI).scan(count, job_id=job_id, label="test")


def strip_page(height: int = 40) -> Image.Image:
    """A fax-width page that needs no resampling: fast to code in loops."""
    page = Image.new("1", (1728, height), 255)
    page.paste(0, (100, 5, 900, 15))
    page.info["dpi"] = (204, 196)
    return page


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return (
        a.size == b.size and ImageChops.difference(a.convert("L"), b.convert("L")).getbbox() is None
    )


def ifd_chain(data: bytes) -> list[dict[int, tuple[int, int, bytes]]]:
    """Walk a little-endian TIFF's IFDs by hand: {tag: (type, count, 4-byte value field)}."""
    assert data[:4] == b"II*\x00"
    directories = []
    offset = struct.unpack_from("<I", data, 4)[0]
    while offset:
        (count,) = struct.unpack_from("<H", data, offset)
        entries = {}
        for k in range(count):
            tag, kind, n = struct.unpack_from("<HHI", data, offset + 2 + 12 * k)
            entries[tag] = (kind, n, data[offset + 6 + 12 * k + 4 : offset + 6 + 12 * k + 8])
        tags = list(entries)
        assert tags == sorted(tags), "TIFF tags must be in ascending order"
        directories.append(entries)
        (offset,) = struct.unpack_from("<I", data, offset + 2 + 12 * count)
    return directories


# -- TIFF-F ---------------------------------------------------------------------------------


def test_round_trip_preserves_pages_and_pixels() -> None:
    pages = small_pages(3)
    data = encode_tiff_f(pages)
    decoded = decode_tiff_f(data)
    assert len(decoded) == 3
    for original, received in zip(pages, decoded, strict=True):
        assert received.mode == "1"
        assert received.width == 1728
        assert received.height == pytest.approx(2292, abs=2)  # A4 at fine resolution
        assert received.info["dpi"] == pytest.approx((204, 196))
        assert same_pixels(fit_to_fax(original), received)


def test_profile_s_fields_as_pillow_reads_them() -> None:
    data = encode_tiff_f(small_pages(2), resolution=FaxResolution.STANDARD)
    with Image.open(io.BytesIO(data)) as tiff:
        assert isinstance(tiff, TiffImagePlugin.TiffImageFile)
        assert tiff.n_frames == 2
        for index in range(2):
            tiff.seek(index)
            tags = tiff.tag_v2
            assert tags[256] == 1728  # ImageWidth
            assert abs(tags[257] - 1146) <= 1  # ImageLength: 297 mm at 98 lpi
            assert tags[258] == (1,)  # BitsPerSample
            assert tags[259] == 3  # Compression: T.4
            assert tags[262] == 0  # Photometric: min-is-white
            assert tags[266] == 2  # FillOrder: LSB first
            assert tags[277] == 1  # SamplesPerPixel
            assert tags[278] == tags[257]  # one strip per page
            assert tags[282] == 204 and tags[283] == 98
            assert tags[292] == 0  # T4Options: 1-D MH only
            assert tags[296] == 2  # ResolutionUnit: inch
            assert tags[297] == (index, 2)  # PageNumber
            assert tags[254] == 2  # NewSubfileType: page of a multi-page document


def test_directory_chain_read_by_hand() -> None:
    pages = [strip_page(), strip_page(20), strip_page(30)]
    data = encode_tiff_f(pages)
    directories = ifd_chain(data)
    assert len(directories) == 3
    for index, entries in enumerate(directories):
        assert struct.unpack("<HH", entries[297][2]) == (index, 3)
        offset = struct.unpack("<I", entries[273][2])[0]
        length = struct.unpack("<I", entries[279][2])[0]
        assert offset + length <= len(data)


def test_fine_and_standard_heights() -> None:
    page = small_pages(1)[0]
    assert fit_to_fax(page, FaxResolution.FINE).size[1] == pytest.approx(2292, abs=1)
    assert fit_to_fax(page, FaxResolution.STANDARD).size[1] == pytest.approx(1146, abs=1)


def test_a4_is_centred_on_the_fax_line() -> None:
    page = Image.new("1", (1654, 2339), 0)  # an all-black A4 page at 200 dpi
    page.info["dpi"] = (200, 200)
    fax = fit_to_fax(page)
    assert fax.width == 1728
    # 210 mm at 204 dpi is 1687 pixels: about 20 white pixels either side.
    black = fax.convert("L").point(lambda v: 255 - v).getbbox()
    assert black is not None
    left, _, right, _ = black
    assert 18 <= left <= 23 and 18 <= 1728 - right <= 23


def test_wide_pages_shrink_to_the_line_and_pages_without_dpi_are_a4() -> None:
    a3_landscape = Image.new("L", (3307, 2339), 255)
    a3_landscape.info["dpi"] = (200, 200)
    wide = fit_to_fax(a3_landscape)
    assert wide.width == 1728
    assert wide.height == pytest.approx(2339 * 196 / 200 * 1728 / (3307 * 204 / 200), abs=2)
    no_dpi = fit_to_fax(Image.new("RGB", (827, 1169), "white"))  # A4 shape, unknown dpi
    assert no_dpi.width == 1728
    assert no_dpi.height == pytest.approx(2292, abs=2)


def test_grey_and_colour_pages_are_thresholded() -> None:
    grey = Image.new("L", (1728, 40), 240)
    grey.paste(30, (0, 0, 100, 40))
    grey.info["dpi"] = (204, 196)
    (decoded,) = decode_tiff_f(encode_tiff_f([grey]))
    assert decoded.getpixel((50, 20)) == 0 and decoded.getpixel((500, 20)) == 255


def test_encode_refuses_nothing_to_send() -> None:
    with pytest.raises(IfaxError, match="at least one page"):
        encode_tiff_f([])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a TIFF"),
        (b"%PDF-1.7\n...", "not a TIFF"),
        (b"\x89PNG\r\n\x1a\n", "not a TIFF"),
        (b"II+\x00\x08\x00\x00\x00", "BigTIFF"),
        (b"II*\x00\x08\x00\x00\x00", "1728"),  # header only: no directory
    ],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
def test_decode_refuses_what_is_not_a_tiff(data: bytes, message: str) -> None:
    with pytest.raises(IfaxFormatError, match=message):
        decode_tiff_f(data)


def test_decode_refuses_wrong_width() -> None:
    buffer = io.BytesIO()
    Image.new("1", (1000, 20), 255).save(buffer, format="TIFF", compression="group4")
    with pytest.raises(IfaxFormatError, match=r"1000 pixels wide.*1728.*2048.*2432"):
        decode_tiff_f(buffer.getvalue())


def test_decode_refuses_grey_pages() -> None:
    buffer = io.BytesIO()
    Image.new("L", (1728, 20), 200).save(buffer, format="TIFF")
    with pytest.raises(IfaxFormatError, match=r"not black-and-white.*1 bit per pixel"):
        decode_tiff_f(buffer.getvalue())


def test_decode_is_liberal_in_coding() -> None:
    page = strip_page()
    for compression in ("group4", "group3", "tiff_ccitt", "raw"):
        buffer = io.BytesIO()
        page.save(buffer, format="TIFF", compression=compression)
        (decoded,) = decode_tiff_f(buffer.getvalue())
        assert same_pixels(page, decoded), compression


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(IfaxFormatError, match="bytes"):
        decode_tiff_f("II*")  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about each damaged tag
def test_decode_survives_garbage() -> None:
    """Random, truncated and bit-flipped files: a list of pages or IfaxFormatError, no crash."""
    rng = random.Random(3965)
    good = encode_tiff_f([strip_page(), strip_page(24)])
    samples = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(40)]
    samples += [good[:4] + s for s in samples[:40]]
    samples += [good[:cut] for cut in range(0, len(good), max(1, len(good) // 60))]
    for _ in range(80):
        damaged = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        samples.append(bytes(damaged))
    refused = 0
    for sample in samples:
        try:
            pages = decode_tiff_f(sample)
        except IfaxFormatError:
            refused += 1
        else:
            assert all(p.mode == "1" and p.width == 1728 for p in pages)
    assert refused > len(samples) // 2


def test_errors_belong_to_the_firmware_tree() -> None:
    assert issubclass(IfaxFormatError, IfaxError)
    assert issubclass(IfaxError, FirmwareError)


# -- RFC 3965 message -------------------------------------------------------------------------


def fax_message(tiff: bytes, **overrides: object) -> EmailMessage:
    fields: dict[str, object] = {
        "sender": "MFP <mfp@example.test>",
        "to": "fax@example.test",
        "subject": "Fax from MFP",
        "date": T0,
        "message_id": "J0001.1800000000@mfp.example.test",
        "tiff": tiff,
        "pages": 2,
    }
    fields.update(overrides)
    return compose_ifax_message(**fields)  # type: ignore[arg-type]


def test_compose_parse_extract_round_trip() -> None:
    tiff = encode_tiff_f([strip_page(), strip_page(30)])
    raw = fax_message(tiff).as_bytes()

    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed["From"] == "MFP <mfp@example.test>"
    assert parsed["To"] == "fax@example.test"
    assert parsed["Subject"] == "Fax from MFP"
    assert parsed["Date"] == "Fri, 15 Jan 2027 08:00:00 +0000"
    assert parsed["Message-ID"] == "<J0001.1800000000@mfp.example.test>"
    assert parsed["MIME-Version"] == "1.0"
    text, image = parsed.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert "2 page(s)" in text.get_content()
    assert image.get_content_type() == "image/tiff"
    assert image.get_param("application") == "faxbw"
    assert image["Content-Transfer-Encoding"] == "base64"
    assert image.get_filename() == "fax.tif"
    assert image.get_content() == tiff

    documents = extract_documents(raw)
    assert documents == [Attachment("fax.tif", "image/tiff", tiff)]
    assert len(decode_tiff_f(documents[0].data)) == 2


def test_composed_message_is_reproducible() -> None:
    tiff = encode_tiff_f([strip_page()])
    assert fax_message(tiff).as_bytes() == fax_message(tiff).as_bytes()
    assert b"Date: Fri, 15 Jan 2027 08:00:00 +0000" in fax_message(tiff).as_bytes()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("message_id", "no-at-sign", "Message-ID"),
        ("subject", "Fax\r\nBcc: victim@example.test", "header"),
        ("tiff", b"%PDF-1.7", "TIFF"),
        ("to", ["ok@example.test", "x@example.test\r\nBcc: victim@example.test"], "header"),
        ("to", [], "header"),
        ("to", "not an address", "not a list of e-mail addresses"),
        ("sender", "MFP <mfp@>", "not a list of e-mail addresses"),
    ],
)
def test_compose_refuses_bad_fields(field: str, value: object, message: str) -> None:
    overrides = {field: value}
    tiff = overrides.pop("tiff", encode_tiff_f([strip_page()]))
    with pytest.raises(IfaxError, match=message):
        fax_message(tiff, **overrides)  # type: ignore[arg-type]


def mail_with(*parts: tuple[str, str, bytes, str | None]) -> bytes:
    message = EmailMessage()
    message["From"] = "a@example.test"
    message["To"] = "mfp@example.test"
    message["Subject"] = "print this"
    message.set_content("hello")
    for maintype, subtype, data, filename in parts:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def test_extract_accepts_printable_types_and_ignores_others() -> None:
    raw = mail_with(
        ("application", "pdf", b"%PDF-1.7 a", "a.pdf"),
        ("image", "gif", b"GIF89a", "b.gif"),
        ("image", "png", b"\x89PNG b", "b.png"),
        ("image", "jpeg", b"\xff\xd8 c", None),
        ("application", "octet-stream", b"%PDF-1.7 d", "../../d.PDF"),
        ("application", "octet-stream", b"MZ", "virus.exe"),
        ("image", "x-tiff", b"II*\x00 e", "e.tif"),
    )
    documents = extract_documents(raw)
    assert [(d.filename, d.content_type, d.data) for d in documents] == [
        ("a.pdf", "application/pdf", b"%PDF-1.7 a"),
        ("b.png", "image/png", b"\x89PNG b"),
        ("document-3.jpg", "image/jpeg", b"\xff\xd8 c"),
        ("d.PDF", "application/pdf", b"%PDF-1.7 d"),
        ("e.tif", "image/tiff", b"II*\x00 e"),
    ]


def test_extract_single_part_and_nested_messages() -> None:
    single = EmailMessage()
    single.set_content(b"%PDF-1.7", maintype="application", subtype="pdf", filename="x.pdf")
    assert [d.filename for d in extract_documents(single.as_bytes())] == ["x.pdf"]

    inner = EmailMessage()
    inner.make_mixed()
    inner.add_attachment(b"%PDF inner", maintype="application", subtype="pdf", filename="in.pdf")
    outer = EmailMessage()
    outer.set_content("forwarded")
    outer.add_attachment(inner)  # message/rfc822
    assert [d.data for d in extract_documents(outer.as_bytes())] == [b"%PDF inner"]


def test_extract_text_only_mail_is_empty() -> None:
    assert extract_documents(mail_with()) == []


def test_extract_survives_malformed_mime() -> None:
    rng = random.Random(2822)
    good = mail_with(("application", "pdf", b"%PDF-1.7 x" * 50, "x.pdf"))
    broken_base64 = good.replace(
        b"Content-Transfer-Encoding: base64", b"Content-Transfer-Encoding: base64\n\n!!@@"
    )
    deep = (
        b"Content-Type: multipart/mixed; boundary=b\n\n"
        + b"--b\nContent-Type: multipart/mixed; boundary=b\n\n" * 400
    )
    samples = [
        b"",
        b"\x00\xff" * 100,
        b"Content-Type: multipart/mixed\n\nno boundary at all",
        (
            b'Content-Type: multipart/mixed; boundary="x"\n\n--x\nContent-Type: application/pdf\n'
            b"Content-Transfer-Encoding: base64\n\n%%%%\n--x"
        ),
        b"Content-Type: image/tiff; name==?utf-8?q?=FF=FE?=\n\nII*\x00",
        broken_base64,
        deep,
        good[: len(good) // 2],
    ]
    samples += [bytes(rng.randrange(256) for _ in range(300)) for _ in range(20)]
    for _ in range(40):
        damaged = bytearray(good)
        for _ in range(10):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        samples.append(bytes(damaged))
    for sample in samples:
        try:
            documents = extract_documents(sample)
        except IfaxFormatError:
            continue
        assert all(isinstance(d, Attachment) and d.data for d in documents)


def test_extract_refuses_non_bytes() -> None:
    with pytest.raises(IfaxFormatError, match="bytes"):
        extract_documents("From: x")  # type: ignore[arg-type]


# -- Scan to E-mail documents -------------------------------------------------------------------

PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def test_pdf_has_one_page_object_per_page() -> None:
    data = encode_pdf(small_pages(3), created=T0)
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert len(PAGE_OBJECT.findall(data)) == 3
    assert re.search(rb"/Count\s+3\b", data)
    assert data.count(b"/CCITTFaxDecode") == 3  # bilevel pages are stored Group 4
    assert b"(D:20270115080000Z)" in data


def test_pdf_page_is_a4_and_reproducible() -> None:
    pages = small_pages(1)
    data = encode_pdf(pages, created=T0)
    assert data == encode_pdf(pages, created=T0)
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box is not None
    width, height = float(box.group(1)), float(box.group(2))
    assert width == pytest.approx(595, abs=2) and height == pytest.approx(842, abs=2)
    assert b"CreationDate" not in encode_pdf(pages)


def test_pdf_takes_colour_pages_as_jpeg() -> None:
    colour = Image.new("RGBA", (80, 100), (200, 30, 30, 255))
    colour.info["dpi"] = (SMALL_DPI, SMALL_DPI)
    data = encode_pdf([small_pages(1)[0], colour])
    assert len(PAGE_OBJECT.findall(data)) == 2
    assert b"/DCTDecode" in data and b"/CCITTFaxDecode" in data


def test_scan_tiff_is_group4_and_lossless() -> None:
    pages = small_pages(2)
    data = encode_tiff(pages)
    assert len(ifd_chain(data)) == 2
    with Image.open(io.BytesIO(data)) as tiff:
        assert isinstance(tiff, TiffImagePlugin.TiffImageFile)
        for index, page in enumerate(pages):
            tiff.seek(index)
            assert tiff.tag_v2[259] == 4 and tiff.tag_v2[262] == 0 and tiff.tag_v2[266] == 1
            assert tiff.info["dpi"] == pytest.approx((SMALL_DPI, SMALL_DPI))
            assert same_pixels(page, tiff)


def test_encoders_need_pages() -> None:
    with pytest.raises(ValueError, match="no pages"):
        encode_pdf([])
    with pytest.raises(ValueError, match="no pages"):
        encode_tiff([])


@pytest.mark.parametrize(
    ("file_format", "filename", "content_type"),
    [("pdf", "scan_J0001.pdf", "application/pdf"), ("tiff", "scan_J0001.tif", "image/tiff")],
)
def test_scan_email(file_format: str, filename: str, content_type: str) -> None:
    document = b"%PDF-1.7 x" if file_format == "pdf" else b"II*\x00 x"
    message = compose_scan_email(
        sender_name="MFP Scanner",
        sender_address="mfp@example.test",
        to=["alice@example.test", "bob@example.test"],
        job_id="J0001",
        document=document,
        file_format=file_format,  # type: ignore[arg-type]
        date=T0,
        message_id="<J0001@mfp.example.test>",
        pages=3,
    )
    raw = message.as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["From"] == "MFP Scanner <mfp@example.test>"
    assert parsed["To"] == "alice@example.test, bob@example.test"
    assert parsed["Subject"] == "Scanned image from MFP"
    assert parsed["Date"] == "Fri, 15 Jan 2027 08:00:00 +0000"
    assert parsed.get_content_type() == "multipart/mixed"
    assert extract_documents(raw) == [Attachment(filename, content_type, document)]
    body = parsed.get_body(("plain",))
    assert body is not None and "Pages: 3" in body.get_content()


def test_scan_email_refuses_bad_input() -> None:
    fields: dict[str, object] = {
        "sender_name": "MFP",
        "sender_address": "mfp@example.test",
        "to": "a@example.test",
        "job_id": "J1",
        "document": b"%PDF",
        "file_format": "pdf",
        "date": T0,
        "message_id": "J1@mfp",
    }
    with pytest.raises(ValueError, match="format"):
        compose_scan_email(**{**fields, "file_format": "docx"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="header"):
        compose_scan_email(**{**fields, "sender_address": "not an address"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="header"):
        compose_scan_email(**{**fields, "to": ["a@example.test", "b\nBcc: c@example.test"]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        compose_scan_email(**{**fields, "document": b""})  # type: ignore[arg-type]
