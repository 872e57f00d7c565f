"""The insurer side, where billing crosses tenants on purpose: an insurer sees the released batches
addressed to it from every IGO, and answers them.

- `selectors`: the reads, bounded by the caller's insurers and by `status = released`;
- `views` and `urls`: the portal under `/insurer/`; `api` and `api_urls`: the API under `/api/insurer/`;
- `return_files`: reading an uploaded return file into return entries.

The answer itself is written by `billing.services.returns`.
"""
