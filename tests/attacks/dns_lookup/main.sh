#!/bin/bash
if getent hosts example.com; then echo "ESCAPED: example.com resolved"; fi
if getent ahosts pypi.org; then echo "ESCAPED: pypi.org resolved"; fi
echo CONTAINED
