// The core entry plus everything stepup-fetch/ky exports; npm run size reports the difference
// from core.js, i.e. what the adapter adds to an app that already uses the core (ky itself external).
import './core.js'
export * from 'stepup-fetch/ky'
