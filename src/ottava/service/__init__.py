"""Use cases, one module per resource: validate -> policy -> quota -> lock -> persist -> operation.

No HTTP and no TaskFlow here: the API calls these, and they hand operation ids to the workers
through the dispatcher they were given.
"""
