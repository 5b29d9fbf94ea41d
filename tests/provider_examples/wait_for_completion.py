# ruff: noqa
# fmt: off
# 123API's development guide (provider-docs page 000, "Asynchronous Processing" > "Polling example"):
# its Python loop, token for token. The page's text lost its line breaks; they and the indentation
# are put back, nothing else. tests/test_page000_loop.py runs it with only its base URL changed.
import time
import requests

def wait_for_completion(task_id, api_key, max_wait=300):
    start_time = time.time()
    while time.time() - start_time < max_wait:
        response = requests.get(
            f"https://123api.co/v1/tasks/{task_id}",
            headers={"Authorization": f"Bearer {api_key}"}
        )
        result = response.json()
        if result.get("status") == "completed":
            return result
        if result.get("status") == "failed":
            raise RuntimeError(result.get("error", "task failed"))
        time.sleep(2)
    raise TimeoutError("task timeout")
