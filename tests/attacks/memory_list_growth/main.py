# Grow a list of distinct objects forever: many small allocations.
items = []
while True:
    items.append(str(len(items)) * 10)
