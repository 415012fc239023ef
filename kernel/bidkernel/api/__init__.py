"""HTTP edge of the kernel (Starlette on uvicorn). Route groups are functions returning Starlette routes
so the application factory (``app.py``) can include them."""
