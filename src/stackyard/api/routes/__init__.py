"""The API's routes, one module per kind of resource; they share HTTP pieces through `stackyard.api`'s own modules
and never import each other."""
