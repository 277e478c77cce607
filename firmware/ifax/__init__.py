"""Internet Fax codec: the pages and the message of RFC 3965 simple mode.

Map:
    tiff_f         pages <-> TIFF-F (RFC 3949 profile S: MH, 1728 px, 204 x 98/196 dpi)
    received       a received TIFF: checked whole against the limits, decoded a page at a time
    bilevel_tiff   black-and-white conversion, CCITT strips (via Pillow/libtiff) and the TIFF
                   layout itself; shared with Scan to E-mail's TIFF
    message        compose a simple-mode fax message; extract documents from received mail
    errors         IfaxError -> IfaxFormatError -> IfaxLimitError
"""

from mfp_sim.firmware.ifax.errors import IfaxError, IfaxFormatError, IfaxLimitError
from mfp_sim.firmware.ifax.message import Attachment, compose_ifax_message, extract_documents
from mfp_sim.firmware.ifax.received import FaxLimits, FaxPage, ReceivedFax, decode_tiff_f
from mfp_sim.firmware.ifax.tiff_f import FaxResolution, encode_tiff_f, fit_to_fax

__all__ = [
    "Attachment",
    "FaxLimits",
    "FaxPage",
    "FaxResolution",
    "IfaxError",
    "IfaxFormatError",
    "IfaxLimitError",
    "ReceivedFax",
    "compose_ifax_message",
    "decode_tiff_f",
    "encode_tiff_f",
    "extract_documents",
    "fit_to_fax",
]
