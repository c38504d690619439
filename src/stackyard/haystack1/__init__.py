"""The Haystack 1.x REST API's shapes and rules, for users who migrate: queries, filters, documents and labels."""
