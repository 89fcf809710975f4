"""Scrapes a weir /metrics endpoint and parses it with the official prometheus_client
OpenMetrics parser (an independent reader). Prints JSON: {sample name: [[labels, value], ...]}.

    metrics_read.py URL
"""
import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

text = urllib.request.urlopen(sys.argv[1], timeout=10).read().decode()
out = {}
for family in text_string_to_metric_families(text):
    for s in family.samples:
        out.setdefault(s.name, []).append([s.labels, s.value])
print(json.dumps(out))
