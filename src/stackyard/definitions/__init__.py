"""What the server knows of a pipeline before it serves, without Haystack: its name (`names`), the files it comes
from (`discovery`), its `metadata` (`metadata`), and validation of a candidate (`checks`, whose build and simulation
happen in a cell). Parsing, the policy and the build itself are component code's business: `stackyard.cell`.
"""
