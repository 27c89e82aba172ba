#!/usr/bin/env node
// imgsvc: the command-line client. Its TypeScript runs through tsx, a dependency of the CLI's package.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
