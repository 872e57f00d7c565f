"""The files billing hands out, rendered from rows already made: the KZ301 claim file (`kz301`), and the
CSV (`csv`) and PDF (`pdf`) of claim batches and member statements. Rendering only, no writes."""
