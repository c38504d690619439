"""Files the upload tests send: a one-page PDF with a line of text, made here byte by byte, and multipart parts."""

from __future__ import annotations

from tests.conftest import REPO

INDEXING = (REPO / "examples/pipelines/indexing.yml").read_text()
QUERY = (REPO / "examples/pipelines/query.yml").read_text()


def on_index(yaml: str, index: str) -> str:
    """The example pipelines on an index of the test's own (in-memory indexes are shared by the whole process)."""
    return yaml.replace("index: docs", f"index: {index}")


def pdf_with_text(text: str) -> bytes:
    """A minimal valid PDF whose only page shows `text` in Helvetica (what pypdf extracts again)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def words(count: int, seed: str) -> str:
    """`count` words of filler around `seed`, so documents are long enough for BM25 to iterate over."""
    return " ".join(f"{seed}{n % 97}" if n % 5 else "hay" for n in range(count))
