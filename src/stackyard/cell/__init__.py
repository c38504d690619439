"""Component code: where Haystack is built and run, inside a cell process (`cell.life`). Nothing outside this
package imports it or Haystack (`tests/test_boundary.py`)."""
