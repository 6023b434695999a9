// What every span says about where it came from: the SDK's defaults, the ECS task (from the task metadata endpoint;
// nothing off ECS) and the environment's attributes, merged last so that `aws.log.group.*` survives the ECS
// detector's blank for a FireLens container. No host, process or OS detectors: the task's attributes say it.
import { awsEcsDetector } from '@opentelemetry/resource-detector-aws';
import { defaultResource, detectResources, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { Config } from '../config';

export function serviceResource(config: Config): Resource {
  // The ECS detector answers at once off ECS (no metadata variable) and asynchronously on ECS.
  return defaultResource()
    .merge(detectResources({ detectors: [awsEcsDetector] }))
    .merge(
      resourceFromAttributes({
        'service.version': config.serviceVersion,
        ...config.resourceAttributes,
        'service.name': config.serviceName,
      }),
    );
}
