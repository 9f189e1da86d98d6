// Package deploy holds no code: its tests check the deployment kit in this directory and at
// the repository root (Dockerfile, docker-compose.yml) against what the monitor reads.
package deploy
