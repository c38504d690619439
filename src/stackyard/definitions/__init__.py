"""What a pipeline is before it serves: its name, its YAML parsed and checked against the policy, built with Haystack.

`names` (what a name may be), `parsing` (YAML text to `Definition`), `policy` (what a definition may contain),
`build` (`Definition` to a warmed-up Haystack pipeline), `schema` (JSON Schema of its inputs and outputs), `checks`
(validate and simulate a candidate without storing it), `discovery` (files and folders to definitions).
"""
