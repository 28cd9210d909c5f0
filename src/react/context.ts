import { createContext } from 'react'
import type { StepUp } from '../index.js'

/** The client `<StepUpProvider>` hands down; `undefined` outside it. */
export const StepUpContext = createContext<StepUp | undefined>(undefined)
StepUpContext.displayName = 'StepUpContext'
