"""The request size limits, in one place. Stdlib only: the settings read them, and so
does threetier.runtime.contract (nginx's client_max_body_size), which the EC2 boot
imports before any dependency is installed.

Every hop caps a request body at MULTIPART_BODY_MAX (the load balancer, nginx, and
guards.BodySizeLimitMiddleware here); a body that is not multipart (JSON, a small form)
is capped at BODY_MAX here.
"""

ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024  # one attachment per user
FORM_OVERHEAD_BYTES = 1024 * 1024  # the multipart framing and the form's other fields
MULTIPART_BODY_MAX = ATTACHMENT_MAX_BYTES + FORM_OVERHEAD_BYTES  # 11 MiB
BODY_MAX = 256 * 1024  # JSON and urlencoded bodies: a comment is at most 2000 characters
JSON_MAX_DEPTH = 32  # nesting the API accepts; the registry's bodies are flat
