"""``bidkernel loadtest``: reproduce a trading center's worst minute — many tenders closing together, bids of
many sizes rushing in on an open-model schedule, then the openings — and report numbers that can be trusted.

profiles     the reference profiles of DOMAIN.md (smoke, baseline, stress) and custom ones (JSON/TOML)
generator    the bid generator (counts, sizes, envelopes, arrival times) and the on-disk sealed-bid cache
aio_http     a small asyncio HTTP/1.1 client streaming packages with signed requests
runner       the run: server, tenders, drive, late probes, closing, opening, offline verification
hist         HdrHistogram latency recording
server_stats server CPU, memory and fsyncs over the run
report/svg   report.json (schema report.schema.json) and report.html (inline SVG charts)

docs/load_testing.md is the guide.
"""
