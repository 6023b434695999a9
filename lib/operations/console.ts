// Links into the CloudWatch console of one region, for alarm descriptions, the dashboard and the stack outputs.
// X-Ray lives in the CloudWatch console now (its own console redirects there).

/** The CloudWatch console's home in `region`; every link below is a fragment of it. */
export function cloudWatchConsole(region: string): string {
  return `https://${region}.console.aws.amazon.com/cloudwatch/home?region=${region}`;
}

export function dashboardUrl(region: string, dashboardName: string): string {
  return `${cloudWatchConsole(region)}#dashboards/dashboard/${dashboardName}`;
}

/** X-Ray's trace list; the group is chosen in its "Group" menu (the console takes no group in the URL). */
export function xrayTracesUrl(region: string): string {
  return `${cloudWatchConsole(region)}#xray:traces/query`;
}

export function xrayInsightsUrl(region: string): string {
  return `${cloudWatchConsole(region)}#xray:insights`;
}

/** Logs Insights; saved queries are under its "Queries" tab. */
export function logsInsightsUrl(region: string): string {
  return `${cloudWatchConsole(region)}#logsV2:logs-insights`;
}
