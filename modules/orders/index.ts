/*
| Public face of the orders module: its integration events.
*/
import '#modules/orders/events'

export type { OrderLine } from '#modules/orders/events'
