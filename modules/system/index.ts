/*
| Public face of the system module: what other modules may import.
*/
export { systemInfo, type SystemInfo } from '#modules/system/services/system_info'
