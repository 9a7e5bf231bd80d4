#!/usr/bin/env python3
"""Reference points for docs/benchmarks.md: parse a GEDCOM file with python-gedcom or ged4py.

Usage: python_parsers.py {python-gedcom|ged4py} FILE
Prints one line: parser, records, bytes, seconds, MB/s, records/s, peak RSS in MiB.
Each parser builds its full record tree, as our reader does.
"""
import os
import resource
import sys
import time


def parse_python_gedcom(path):
    from gedcom.parser import Parser

    parser = Parser()
    parser.parse_file(path, strict=False)
    return len(parser.get_root_child_elements())


def parse_ged4py(path):
    from ged4py.parser import GedcomReader

    records = 0
    with GedcomReader(path) as reader:
        # records0() with no tag yields every level-0 record with its whole subtree parsed.
        for _ in reader.records0():
            records += 1
    return records


def main():
    which, path = sys.argv[1], sys.argv[2]
    parse = {"python-gedcom": parse_python_gedcom, "ged4py": parse_ged4py}[which]
    size = os.path.getsize(path)
    start = time.perf_counter()
    records = parse(path)
    secs = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{which}: {records} records, {size} bytes in {secs:.2f} s = {size / secs / 1e6:.2f} MB/s, "
        f"{records / secs:.0f} records/s, peak RSS {peak_mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
