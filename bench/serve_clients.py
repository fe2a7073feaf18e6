"""Drives `looplm serve` with the official `openai` Python client: N concurrent clients, each
sending requests one after another (streamed, with usage), and prints the aggregate new
tokens per second, the mean time to first token and the mean request time for each N.
Also checks that a streamed answer equals the same request unstreamed, and that LoopLM's
extensions (loops, exit) come back in the response.

    python3 bench/serve_clients.py --base-url http://127.0.0.1:8080/v1 --model NAME [--clients 1,8,32]
Needs: pip install openai (the benchmark's client only; LoopLM needs no Python).
"""
import argparse
import json
import threading
import time

from openai import OpenAI

PROMPTS = ["The king said", "In the morning", "My lord, the", "What news from", "Once upon a time",
           "To be or not", "The city of", "O Romeo, Romeo"]


def one_request(client, model, prompt, max_tokens):
    start = time.perf_counter()
    first = None
    tokens = 0
    text = ""
    stream = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0,
                                       stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            if first is None:
                first = time.perf_counter() - start
            text += chunk.choices[0].text
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return tokens, first or 0.0, time.perf_counter() - start, text


def run(base_url, model, clients, requests_per_client, max_tokens):
    results = []
    lock = threading.Lock()

    def worker(index):
        client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
        for r in range(requests_per_client):
            prompt = PROMPTS[(index + r) % len(PROMPTS)]
            outcome = one_request(client, model, prompt, max_tokens)
            with lock:
                results.append(outcome)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    tokens = sum(r[0] for r in results)
    return {
        "clients": clients,
        "requests": len(results),
        "new_tokens": tokens,
        "seconds": round(wall, 3),
        "tokens_per_second": round(tokens / wall, 1),
        "mean_time_to_first_token_s": round(sum(r[1] for r in results) / len(results), 3),
        "mean_request_s": round(sum(r[2] for r in results) / len(results), 3),
    }


def check(base_url, model, max_tokens):
    client = OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=600)
    whole = client.completions.create(model=model, prompt=PROMPTS[0], max_tokens=max_tokens, temperature=0)
    _, _, _, streamed = one_request(client, model, PROMPTS[0], max_tokens)
    assert streamed == whole.choices[0].text, "a streamed answer differs from the same request unstreamed"
    looped = client.completions.create(model=model, prompt=PROMPTS[1], max_tokens=4, temperature=0,
                                       extra_body={"loops": 1, "exit": "fixed"})
    report = looped.model_extra.get("looplm") or {}
    assert report.get("loops") == 1, f"the loops extension did not come back: {looped}"
    models = [m.id for m in client.models.list()]
    assert model in models, f"{model} not in {models}"
    return {"stream_equals_whole": True, "loops_extension": report}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--requests-per-client", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    checked = check(args.base_url, args.model, args.max_tokens)
    rows = [run(args.base_url, args.model, int(n), args.requests_per_client, args.max_tokens)
            for n in args.clients.split(",")]
    if args.json:
        print(json.dumps({"check": checked, "runs": rows}))
        return
    print(f"checks: streamed = unstreamed, loops extension {checked['loops_extension']}")
    for row in rows:
        print(f"{row['clients']:3d} clients: {row['requests']:3d} requests, {row['new_tokens']:5d} new tokens in "
              f"{row['seconds']:7.2f} s = {row['tokens_per_second']:7.1f} tokens/s; first token after "
              f"{row['mean_time_to_first_token_s']:.3f} s, request {row['mean_request_s']:.2f} s on average")


if __name__ == "__main__":
    main()
