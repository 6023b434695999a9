// A stand-in `docker` CLI: a real executable that answers `version`, `buildx version` and `buildx inspect` like the
// real one, in the state its environment names (FAKE_DOCKER=down|nobuildx, FAKE_ENGINE, FAKE_PLATFORMS).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Writes the fake into `dir` and returns its path. */
export function writeFakeDocker(dir: string): string {
  const file = path.join(dir, 'docker');
  fs.writeFileSync(
    file,
    `#!/bin/sh
case "$1 $2" in
  "version --format")
    if [ "$FAKE_DOCKER" = down ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
      exit 1
    fi
    echo "28.2.2 \${FAKE_ENGINE:-linux/amd64}" ;;
  "buildx version")
    if [ "$FAKE_DOCKER" = nobuildx ]; then echo "docker: unknown command: docker buildx" >&2; exit 1; fi
    echo "github.com/docker/buildx v0.24.0 d0e5e86" ;;
  "buildx inspect")
    printf 'Name:   default\\nDriver: docker\\nPlatforms: %s\\n' "\${FAKE_PLATFORMS:-linux/amd64, linux/386}" ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
`,
    { mode: 0o755 },
  );
  return file;
}
