"""The review port (DESIGN.md section 5): one task contract (`contract`), two adapters.

- `groundtruth`: the streaming labeling job's data object, the pre-annotation and
  consolidation contracts, majority consolidation, the output-line reader; `labeling_job`
  and `template` describe the job and its worker template.
- `console`: tasks kept in DynamoDB with their task token; the HTTP API calls
  `ConsoleReview.next_task` and `ConsoleReview.answer_task`.

`service` holds the parts of both adapters that talk to AWS through `walkout.data`.
"""
