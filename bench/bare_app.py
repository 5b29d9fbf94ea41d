"""The baseline: a bare ASGI app answering a status-sized JSON body, on the same uvicorn."""

BODY = (
    b'{"code":200,"message":"success","data":{"taskId":"task_0123456789abcdef",'
    b'"state":"processing","createTime":1767965610000}}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
