// A saved CloudWatch Logs Insights query that lists the log lines of one trace. Every correlated line holds
// the trace ID in both forms (W3C `trace_id` and the X-Ray `1-…-…` form), so one substring filter finds the
// lines whichever form the user pastes: the same filter the X-Ray console runs.
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The text users replace with a trace ID before running the saved query. */
export const TRACE_ID_PLACEHOLDER = 'PASTE-TRACE-ID-HERE';

export interface TraceLogsQueryProps {
  /** The groups the query searches. */
  readonly logGroups: logs.ILogGroup[];

  /** The query's name in the console; a `/` makes a folder. */
  readonly queryName: string;
}

export class TraceLogsQuery extends Construct {
  readonly queryDefinition: logs.QueryDefinition;

  constructor(scope: Construct, id: string, props: TraceLogsQueryProps) {
    super(scope, id);
    this.queryDefinition = new logs.QueryDefinition(this, 'Query', {
      queryDefinitionName: props.queryName,
      logGroups: props.logGroups,
      queryString: new logs.QueryString({
        fields: ['@timestamp', 'level', 'msg', 'trace_id', 'span_id', '`AWS-XRAY-TRACE-ID`'],
        filterStatements: [`@message like "${TRACE_ID_PLACEHOLDER}"`],
        sort: '@timestamp asc',
        limit: 1000,
      }),
    });
  }
}
