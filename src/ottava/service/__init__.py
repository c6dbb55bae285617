"""Use cases, one module per resource. A change is one transaction (`base.Operations.change`)
that checks, writes the desired state and records one operation; the changes of objects
below a load balancer follow the one template of `children.ChildService`.

No HTTP, no TaskFlow and no driver call inside a transaction here: the API calls these, and
they hand operation ids to the workers through the dispatcher they were given.
"""
