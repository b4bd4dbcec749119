#!/bin/bash
mkdir -p /box/mnt
if mount -t tmpfs none /box/mnt 2>/dev/null; then echo "ESCAPED: mount"; fi
if unshare -r true 2>/dev/null; then echo "ESCAPED: unshare -r (user namespace)"; fi
if unshare -m true 2>/dev/null; then echo "ESCAPED: unshare -m"; fi
if chroot /box /bin/true 2>/dev/null; then echo "ESCAPED: chroot"; fi
if umount -l /usr 2>/dev/null; then echo "ESCAPED: umount /usr"; fi
echo CONTAINED
