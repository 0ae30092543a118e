/*
| Entry point for "node ace" commands. ts-exec compiles TypeScript on the fly;
| the production build rewrites this file to import the compiled console.
*/
import '@poppinss/ts-exec'

await import('./bin/console.js')
