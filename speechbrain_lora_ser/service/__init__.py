"""An HTTP service and a page: ``ser-serve --model FOLDER``.

Modules by role: ``settings`` (limits, defaults), ``loading`` (the model, as
``predict`` loads it), ``batching`` (concurrent requests in one forward pass),
``uploads`` (size and duration limits), ``live`` (the ``/stream`` WebSocket),
``schema`` (the OpenAPI response models), ``app`` (the FastAPI factory),
``cluster`` (the same app as a Ray Serve application: ``ser-serve --ray``)
and ``__main__`` (the command line).
"""
