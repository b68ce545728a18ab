"""Container images: build with an immutable content tag, push to the stack's registry
without admin passwords, and resolve the names job specs use.

Import-light on purpose (standard library only): azure-identity is imported inside the
functions that need a credential, and this package imports none of its modules, so that
``--local`` runs, which only resolve the image name (:mod:`superbatch.images.resolve`), never
load the registry client and its HTTP stack.

Modules: ``build`` (build and push), ``registry`` (the ACR token exchange and the registry
API), ``resolve`` (names in job specs), ``reference`` (parsing), ``tags`` (content tags).
"""
