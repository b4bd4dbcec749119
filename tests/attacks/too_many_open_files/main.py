# Open /dev/null until the descriptor limit (256) says no.
import errno

files = []
try:
    while len(files) < 100000:
        files.append(open("/dev/null", "rb"))
    print("ESCAPED: opened", len(files), "files")
except OSError as e:
    print(len(files), "files, then", e)
    if e.errno != errno.EMFILE:
        print(f"ESCAPED: {e!r}, not EMFILE")
if len(files) + 3 > 256:
    print("ESCAPED: more than 256 descriptors")
print("CONTAINED")
