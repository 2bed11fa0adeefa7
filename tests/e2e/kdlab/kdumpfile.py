"""An independent reader of kdump-compressed files, for tests: header,
bitmaps and page descriptors (layout: makedumpfile's diskdump_mod.h, LP64)."""

import ctypes
import struct
import zlib

from .util import LabError


class KdumpFile:
    def __init__(self, path):
        self.f = open(path, "rb")
        h = self.f.read(464)
        if h[:8] not in (b"KDUMP   ", b"DISKDUMP"):
            raise LabError(f"{path}: not a kdump-compressed file")
        self.version = struct.unpack_from("<i", h, 8)[0]
        self.utsname = [h[12 + 65 * i:12 + 65 * (i + 1)].split(b"\0")[0].decode() for i in range(6)]
        (self.status, self.block_size, self.sub_hdr_size, self.bitmap_blocks, _max32) = \
            struct.unpack_from("<IiiII", h, 424)
        self.nr_cpus = struct.unpack_from("<i", h, 460)[0]
        self.f.seek(self.block_size)
        sub = self.f.read(104)
        self.phys_base, self.dump_level = struct.unpack_from("<Qi", sub, 0)
        self.max_mapnr = struct.unpack_from("<Q", sub, 96)[0]
        half = self.bitmap_blocks // 2 * self.block_size
        off = (1 + self.sub_hdr_size) * self.block_size
        self.f.seek(off)
        self.bitmap1 = self.f.read(half)
        self.bitmap2 = self.f.read(half)
        self.desc_offset = off + 2 * half

    def dumpable(self):
        """The dumpable pfns, in order."""
        bm = self.bitmap2
        for i, byte in enumerate(bm):
            if byte:
                for b in range(8):
                    if byte >> b & 1:
                        yield i * 8 + b

    def pages(self):
        """(pfn, bytes) of every dumpable page, decompressing zlib and lzo pages."""
        pfns = list(self.dumpable())
        self.f.seek(self.desc_offset)
        descs = self.f.read(24 * len(pfns))
        for n, pfn in enumerate(pfns):
            offset, size, flags, _ = struct.unpack_from("<qIIQ", descs, 24 * n)
            self.f.seek(offset)
            data = self.f.read(size)
            if flags == 1:
                data = zlib.decompress(data)
            elif flags == 2:
                data = lzo_decompress(data, self.block_size, pfn)
            elif flags != 0:
                raise LabError(f"pfn {pfn}: flags {flags:#x}; this reader decompresses zlib and lzo only")
            yield pfn, data


_liblzo = []


def lzo_decompress(data, size, pfn):
    """liblzo2's lzo1x_decompress_safe, the decoder crash and makedumpfile
    use, called directly: dumptool writes its LZO1X streams itself."""
    if not _liblzo:
        try:
            _liblzo.append(ctypes.CDLL("liblzo2.so.2"))
        except OSError as e:
            raise LabError(f"liblzo2.so.2 is missing ({e}): apt-get install liblzo2-2")
    out = ctypes.create_string_buffer(size)
    n = ctypes.c_ulong(size)
    r = _liblzo[0].lzo1x_decompress_safe(data, ctypes.c_ulong(len(data)), out, ctypes.byref(n), None)
    if r != 0 or n.value != size:
        raise LabError(f"pfn {pfn}: lzo1x_decompress_safe returned {r} with {n.value} of {size} bytes")
    return out.raw


def vmcore_pages(path, page_size=4096):
    """A function pfn -> bytes over a raw ELF vmcore's PT_LOADs."""
    from .check import elf_segments
    segs = sorted((s for s in elf_segments(path) if s["type"] == 1), key=lambda s: s["paddr"])
    f = open(path, "rb")

    def read(pfn):
        pa = pfn * page_size
        for s in segs:
            if s["paddr"] <= pa < s["paddr"] + s["filesz"]:
                f.seek(s["offset"] + pa - s["paddr"])
                return f.read(page_size)
        return None
    return read


def drop_pages(src, dst, drop):
    """Copies the kdump file src to dst with the pfns in drop left out, as
    if the dump level had excluded them: their second-bitmap bits cleared
    and their descriptors removed. Page data stays where it is (descriptors
    hold absolute offsets), so the rest of the file is unchanged."""
    k = KdumpFile(src)
    kept = list(k.dumpable())
    k.f.seek(k.desc_offset)
    descs = k.f.read(24 * len(kept))
    k.f.close()
    drop = set(drop) & set(kept)
    bitmap2 = bytearray(k.bitmap2)
    for pfn in drop:
        bitmap2[pfn // 8] &= ~(1 << pfn % 8) & 0xff
    new = b"".join(descs[24 * n:24 * n + 24] for n, pfn in enumerate(kept) if pfn not in drop)
    with open(src, "rb") as f, open(dst, "wb") as out:
        out.write(f.read())
        out.seek(k.desc_offset - len(bitmap2))
        out.write(bitmap2)
        out.write(new + bytes(24 * len(drop)))
    return len(drop)
