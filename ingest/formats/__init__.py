"""One module a format: each turns a parsed body into Candidates, with no I/O.

    collector   /v1/events: Aforo's own JSON events and CloudEvents
    kong        Kong's bundled http-log plugin
    aws         API Gateway access logs via Kinesis Firehose or a CloudWatch Logs subscription
    azure       Azure API Management send-one-way-request JSON
    apigee      Apigee JavaScript / MessageLogging JSON
    nginx       nginx `log_format escape=json` lines (HTTP NDJSON and UDP syslog)
"""
