import os

os.symlink("/etc/shadow", "out")
os.symlink(os.environ["SECRET_PATH"], "out2")
os.symlink(os.environ["TMP_SENTINEL"], "out3")
os.symlink("/etc", "out4")
os.mkdir("dir")
os.symlink("/etc/shadow", "dir/shadow")
os.symlink("/proc/1/environ", "out5")
os.mkfifo("fifo")
print("CONTAINED")
